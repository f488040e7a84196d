"""SimEx: express prediction of inter-dataset similarity by a fleet of autoencoders."""

__version__ = "0.1.0"
