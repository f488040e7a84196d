"""Foundations: file formats, the dataset registry and sheet, atomic artifacts, the error base."""
