"""A single-node SLURM cluster on localhost for the tests, in one scratch folder.

munged, a MariaDB server (the accounting database), slurmdbd, slurmctld and slurmd are started
by the current user (root: slurmd runs the jobs) with their sockets, ports, state and logs in the
folder, so that nothing of the machine's own configuration is read or changed. Clients find the
cluster through ``SLURM_CONF``. Process tracking is ``proctrack/linuxproc`` and there is no task
plugin: no cgroups, so it runs in a container. Stopped by the pid files of what it started.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sacct", "sacctmgr", "scancel", "sinfo")
CLUSTER = "neuroalignci"
PARTITION = "cpu"
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
# The job step plugin drops SLURM_CONF before its inner srun, so srun in a job reads the compiled
# default: the cluster's slurm.conf is linked there while it runs (never over a real one).
SITE_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# neuroalign scratch test cluster"


def missing_programs() -> list[str]:
    """The daemons and clients of the cluster that are not installed."""
    need = (*DAEMONS, "mariadb-install-db", "mariadb", *CLIENTS)
    return [p for p in need if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]


def _which(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_resources() -> tuple[int, int]:
    """This machine's CPUs and memory (MB) as slurmd sees them."""
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True).stdout
    cpus = int(re.search(r"\bCPUs=(\d+)", out).group(1))
    memory = int(re.search(r"\bRealMemory=(\d+)", out).group(1))
    return cpus, memory


class ClusterError(RuntimeError):
    """The scratch cluster cannot be started here (the reason is the message)."""


class LocalSlurm:
    """Start with :meth:`start`, stop with :meth:`stop`; ``env`` is what clients need."""

    def __init__(self, root: Path, min_memory_mb: int = 0, min_cpus: int = 1):
        self.root = Path(root)
        self.min_memory_mb = min_memory_mb
        self.min_cpus = min_cpus
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.run = self.root / "run"
        self.log = self.root / "log"
        self.cpus, self.memory = node_resources()
        self._pids: dict[str, Path] = {}
        self._linked = False
        self._db: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _sh(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env}
        proc = subprocess.run(args, capture_output=True, text=True, env=env, **kw)
        if check and proc.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
                f"\n{self.logs()}"
            )
        return proc

    def logs(self) -> str:
        """The tail of every daemon log (for failure messages)."""
        parts = []
        for path in sorted(self.log.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def _wait(self, what: str, ok, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.3)
        raise ClusterError(f"the local SLURM cluster: {what} did not come up\n{self.logs()}")

    def start(self) -> LocalSlurm:
        for sub in ("run", "log", "state", "spool", "db"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self._start_munge()
        self._start_database()
        self._write_configs()
        self._link_site_conf()
        self._start_slurmdbd()
        self._sh(_which("sacctmgr"), "-i", "add", "cluster", CLUSTER)
        self._start_slurm()
        return self

    def _start_munge(self) -> None:
        # Slurm's clients reach munged on its default socket (the accounting connection ignores
        # AuthInfo), so the machine's munged is used when it answers, else one is started there.
        def answers() -> bool:
            enc = subprocess.run(["munge", "-n"], capture_output=True)
            dec = subprocess.run(["unmunge"], input=enc.stdout, capture_output=True)
            return enc.returncode == 0 and dec.returncode == 0

        if answers():
            return
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_bytes(os.urandom(1024))
            os.chmod(key, 0o400)
        self._pids["munged"] = self.run / "munged.pid"
        self._sh(
            _which("munged"),
            f"--key-file={key}",
            f"--pid-file={self._pids['munged']}",
            f"--log-file={self.log / 'munged.log'}",
            f"--seed-file={self.run / 'munge.seed'}",
            "--force",
        )
        self._wait("munged", answers)

    def _start_database(self) -> None:
        data = self.root / "db"
        self.db_port = _free_port()
        self.db_socket = self.run / "mysql.sock"
        self._sh(
            _which("mariadb-install-db"),
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        )
        self._pids["mariadbd"] = self.run / "mariadbd.pid"
        with open(self.log / "mariadbd.log", "ab") as log:  # the daemon keeps its own copy
            self._db = subprocess.Popen(
                [
                    _which("mariadbd"),
                    "--no-defaults",
                    f"--datadir={data}",
                    "--user=root",
                    f"--socket={self.db_socket}",
                    f"--port={self.db_port}",
                    "--bind-address=127.0.0.1",
                    f"--pid-file={self._pids['mariadbd']}",
                    "--innodb-buffer-pool-size=64M",
                    "--skip-log-bin",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait("MariaDB", self.db_socket.exists)
        sql = (
            "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        )
        self._sh(_which("mariadb"), f"--socket={self.db_socket}", "-uroot", "-e", sql)

    def _write_configs(self) -> None:
        self.dbd_port = _free_port()
        self.ctld_port = _free_port()
        self.slurmd_port = _free_port()
        auth = "AuthType=auth/munge\n"
        dbd = self.root / "slurmdbd.conf"
        dbd.write_text(
            auth
            + f"DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={self.dbd_port}\nSlurmUser=root\n"
            f"PidFile={self.run / 'slurmdbd.pid'}\nLogFile={self.log / 'slurmdbd.log'}\n"
            f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
            f"StoragePort={self.db_port}\nStorageUser=slurm\nStoragePass=slurm\n"
            "StorageLoc=slurm_acct_db\n"
        )
        os.chmod(dbd, 0o600)
        # Memory as a consumable (CR_Core_Memory) so that --mem is scheduled, not enforced (no
        # cgroups). A machine with less than the jobs ask for declares that much anyway
        # (config_overrides: slurmd takes the declared node) so that a small CI machine can
        # schedule the profile's requests; the slice itself uses a few hundred MB and one core.
        memory = max(self.memory - 512, 1024)
        cpus = self.cpus
        overrides = ""
        if self.min_memory_mb > memory or self.min_cpus > cpus:
            memory = max(memory, self.min_memory_mb)
            cpus = max(cpus, self.min_cpus)
            overrides = "SlurmdParameters=config_overrides\n"
        self.conf.write_text(
            f"{MARKER}\nClusterName={CLUSTER}\nSlurmctldHost={self.host}(127.0.0.1)\n"
            + auth
            + "CredType=cred/munge\nSlurmUser=root\nSlurmdUser=root\n"
            f"SlurmctldPort={self.ctld_port}\nSlurmdPort={self.slurmd_port}\n"
            f"StateSaveLocation={self.root / 'state'}\nSlurmdSpoolDir={self.root / 'spool'}\n"
            f"SlurmctldPidFile={self.run / 'slurmctld.pid'}\n"
            f"SlurmdPidFile={self.run / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={self.log / 'slurmctld.log'}\n"
            f"SlurmdLogFile={self.log / 'slurmd.log'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "JobAcctGatherType=jobacct_gather/linux\nJobAcctGatherFrequency=5\n"
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={self.dbd_port}\n"
            "AccountingStoreFlags=job_comment\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
            "MpiDefault=none\nReturnToService=2\nMinJobAge=600\n"
            "SchedulerType=sched/backfill\n"
            + overrides
            + f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} "
            f"RealMemory={memory} State=UNKNOWN\n"
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )
        self.node_memory, self.node_cpus = memory, cpus

    def _link_site_conf(self) -> None:
        if SITE_CONF.is_symlink() or SITE_CONF.exists():
            try:
                ours = SITE_CONF.read_text().startswith(MARKER)
            except OSError:  # a dangling link of an earlier scratch cluster
                ours = SITE_CONF.is_symlink()
            if not ours:
                raise ClusterError(
                    f"{SITE_CONF} is a real SLURM configuration; the scratch cluster does not "
                    "replace it (run the test on a machine without one)"
                )
            SITE_CONF.unlink()
        SITE_CONF.parent.mkdir(parents=True, exist_ok=True)
        SITE_CONF.symlink_to(self.conf)
        self._linked = True

    def _start_slurmdbd(self) -> None:
        self._pids["slurmdbd"] = self.run / "slurmdbd.pid"
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        # slurmdbd reads slurmdbd.conf next to slurm.conf
        subprocess.run([_which("slurmdbd")], env=env, check=True, capture_output=True)
        self._wait(
            "slurmdbd",
            lambda: (
                self._sh(_which("sacctmgr"), "-n", "list", "cluster", check=False).returncode == 0
            ),
        )

    def _start_slurm(self) -> None:
        self._pids["slurmctld"] = self.run / "slurmctld.pid"
        self._pids["slurmd"] = self.run / "slurmd.pid"
        self._sh(_which("slurmctld"))
        self._sh(_which("slurmd"))

        def idle() -> bool:
            out = self._sh("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            return out in ("idle", "mixed", "allocated")

        self._wait("the node", idle)

    def stop(self) -> None:
        """End every daemon this cluster started (by its pid file), the last started first."""
        for name in reversed(DAEMONS):
            pidfile = self._pids.get(name)
            if pidfile is None or not pidfile.exists():
                continue
            try:
                pid = int(pidfile.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
            except (ValueError, ProcessLookupError, IndexError):
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        if self._db is not None:
            self._db.wait(timeout=30)
        if self._linked and SITE_CONF.is_symlink() and SITE_CONF.resolve() == self.conf.resolve():
            SITE_CONF.unlink()

    def sacct(self, *fields: str, name: str | None = None) -> list[dict[str, str]]:
        """Accounting records of the cluster's jobs (allocations only, no steps)."""
        args = ["sacct", "-X", "-a", "--parsable2", "--noheader", "-S", "2000-01-01"]
        args += ["--format=" + ",".join(fields)]
        if name:
            args += ["--name", name]
        out = self._sh(*args).stdout
        return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
