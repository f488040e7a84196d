"""A throw-away single-node Slurm cluster for the tests: munged, slurmctld and slurmd as child processes.

Everything lives in one directory: a generated munge key and socket, slurm.conf, gres.conf,
state, spool, logs and the job-completion record. Clients (sbatch, squeue, sacct, the
executor plugins) find the cluster through ``SLURM_CONF`` in :attr:`SlurmCluster.env`.
The node advertises GPUs as GRES whose device files are stand-ins (character devices
with /dev/null's numbers), so jobs request and get GPUs, with CUDA_VISIBLE_DEVICES set
as on a GPU node, on a machine without any. Accounting: no slurmdbd (it needs a
MySQL/MariaDB server); instead
``jobcomp/filetxt`` writes one record per finished job, which ``sacct --completion``
reads, and a long ``MinJobAge`` keeps finished jobs visible to ``squeue``.

The daemons run in their own process groups and are killed with them by :meth:`stop`,
which the test fixture calls in its finalizer, so nothing outlives a failing test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sacct", "scontrol", "sinfo", "scancel", "srun")
DEBIAN_PACKAGES = "slurm-wlm munge"  # what scripts/setup.sh installs for these tests
START_TIMEOUT_S = 60
# Finished jobs stay in slurmctld's memory (and in squeue) this long.
MIN_JOB_AGE_S = 3600
RUN_CONF = Path("/run/slurm/conf")  # where a configless slurmd links its configuration


def missing_binaries() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Partition:
    name: str
    max_minutes: int
    default: bool = False


@dataclass
class SlurmCluster:
    root: Path
    node: str
    cpus: int
    memory_mb: int
    gpus: int
    gpu_type: str
    partitions: tuple[Partition, ...]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    controller_port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"simextest{secrets.token_hex(4)}")  # tells its processes apart
    linked_run_conf: bool = False

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def jobcomp_file(self) -> Path:
        return self.root / "jobcomp.txt"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a client of this cluster (and of the jobs it starts)."""
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def log(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    # --- configuration -------------------------------------------------------------

    def write_config(self) -> None:
        for sub in ("etc", "state", "spool", "log", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        gres = f"gpu:{self.gpu_type}:{self.gpus}" if self.gpu_type else f"gpu:{self.gpus}"
        partitions = "\n".join(
            f"PartitionName={p.name} Nodes={self.node} MaxTime={p.max_minutes} State=UP"
            + (" Default=YES" if p.default else "") for p in self.partitions)
        self.conf.write_text(f"""\
ClusterName={self.name}
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.controller_port}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmctldLogFile={self.log("slurmctld")}
SlurmdLogFile={self.log("slurmd")}
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: the test may run in a container without a writable cgroup tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# slurmd reports the node as configured below, not as measured: the profile's GPU jobs
# ask for more CPUs and memory than a CI machine has, and nothing here enforces either.
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp_file}
MinJobAge={MIN_JOB_AGE_S}
ReturnToService=2
MailProg=/bin/true
KillWait=5
MpiDefault=none
InactiveLimit=0
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} Gres={gres} State=UNKNOWN
{partitions}
""")
        # Slurm 22.05's gres/gpu drops GPUs without File= ("Removing file-less GPU ... from
        # final GRES list") and sets no CUDA_VISIBLE_DEVICES for files that are not devices.
        # Each stand-in GPU is therefore a character device with /dev/null's numbers: Slurm
        # takes the index at the end of its name for CUDA_VISIBLE_DEVICES and never opens it.
        devices = self.root / "dev"
        devices.mkdir(exist_ok=True)
        for index in range(self.gpus):
            os.mknod(devices / f"fakegpu{index}", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        gres_line = f"Name=gpu File={devices}/fakegpu[0-{self.gpus - 1}]" + (f" Type={self.gpu_type}" if self.gpu_type else "")
        (self.root / "etc" / "gres.conf").write_text(f"NodeName={self.node} {gres_line}\n")

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    # --- processes -----------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        output = open(self.root / "log" / f"{name}.out", "wb")
        self.processes[name] = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True)  # own process group: stop() kills it whole
        output.close()

    def start(self) -> None:
        self.write_config()
        self.link_run_conf()
        munge = self.root / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                               f"--key-file={munge / 'munge.key'}", f"--pid-file={munge / 'munged.pid'}",
                               f"--seed-file={munge / 'munged.seed'}", f"--log-file={self.log('munged')}"], self.env)
        self._wait_for(lambda: self.munge_socket.exists(), "munged to open its socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-f", str(self.conf)], self.env)
        self._wait_for(lambda: self.client("scontrol", "ping", check=False).returncode == 0,
                       "slurmctld to answer scontrol ping")
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.node], self.env)
        self._wait_for(self.node_idle, f"node {self.node} to become idle")

    def node_idle(self) -> bool:
        state = self.client("sinfo", "--noheader", "--nodes", self.node, "--format=%t", check=False).stdout
        return bool(state.strip()) and all(line.strip() == "idle" for line in state.splitlines())

    def _wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}:\n{self.diagnostics()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {START_TIMEOUT_S} s waiting for {what}:\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            text = path.read_text(errors="replace")[-3000:]
            parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts)

    def client(self, *command: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
        return result

    def jobs(self) -> list[dict]:
        """slurmctld's records of every job it holds (finished ones for MinJobAge), as squeue --json gives them."""
        return json.loads(self.client("squeue", "--states=all", "--json").stdout)["jobs"]

    def completions(self) -> dict[str, dict[str, str]]:
        """The job-completion records (sacct --completion), by job id."""
        fields = ("JobID", "JobName", "Partition", "Timelimit", "NodeList", "State")
        text = self.client("sacct", "--completion", "--parsable2", "--noheader", f"--format={','.join(fields)}").stdout
        records = [dict(zip(fields, line.split("|"))) for line in text.splitlines() if line.strip()]
        return {record["JobID"]: record for record in records}

    def stop(self) -> None:
        """Cancel every job, kill the daemons' process groups and the cluster's leftover processes, unlink /run/slurm/conf."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            self.client("scancel", "--full", "--user", str(os.getuid()), check=False, timeout=10)
        for name in reversed(list(self.processes)):
            self._kill_group(self.processes[name])
        self._kill_leftovers()
        self.processes.clear()
        self.unlink_run_conf()

    def link_run_conf(self) -> None:
        """Link /run/slurm/conf to this cluster's configuration, as slurmd does on a configless node.

        Clients without SLURM_CONF (and without /etc/slurm/slurm.conf) look there; the
        jobstep executor plugin starts its srun inside each job without SLURM_CONF.
        """
        RUN_CONF.parent.mkdir(exist_ok=True)
        RUN_CONF.symlink_to(self.conf.parent)
        self.linked_run_conf = True

    def unlink_run_conf(self) -> None:
        if self.linked_run_conf and RUN_CONF.is_symlink() and RUN_CONF.resolve() == self.conf.parent.resolve():
            RUN_CONF.unlink()
            try:
                RUN_CONF.parent.rmdir()
            except OSError:  # something else lives in /run/slurm
                pass
        self.linked_run_conf = False

    @staticmethod
    def _kill_group(process: subprocess.Popen) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue

    def leftover_processes(self) -> list[int]:
        """Processes of this cluster outside the daemons' process groups: slurmstepd (it
        daemonizes; its environment holds this SLURM_CONF) and job tasks (their environment
        names this cluster, even where the jobstep plugin dropped SLURM_CONF)."""
        markers = (f"SLURM_CONF={self.conf}".encode(), f"SLURM_CLUSTER_NAME={self.name}".encode())
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:  # gone meanwhile, or a kernel thread
                continue
            if any(marker in environ for marker in markers):
                found.append(int(proc.name))
        return found

    def _kill_leftovers(self) -> None:
        deadline = time.monotonic() + 10  # a killed process lingers until the kernel has torn it down
        while (pids := self.leftover_processes()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

def start_cluster(root: Path, partitions: tuple[Partition, ...], *, gpus: int = 2, gpu_type: str = "",
                  cpus: int = 16, memory_mb: int = 64000) -> SlurmCluster:
    """A running cluster in ``root`` (the caller stops it, also when start-up fails half-way)."""
    cluster = SlurmCluster(root, socket.gethostname().split(".")[0], cpus, memory_mb, gpus, gpu_type, partitions)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
