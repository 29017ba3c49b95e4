#!/usr/bin/python3
"""Downtime and steps redone after a data-parallel worker is SIGKILLed: trainrt against torchrun.

Side by side in one run:

    tools/bench/recovery.py [--models cnn,mlp100m] [--runs restart,memory,shrink,peer]
                            [--cnn-steps 150 --cnn-every 50 --cnn-kill 70]
                            [--mlp-steps 30 --mlp-every 10 --mlp-kill 17] [--trainrt PATH] [--workdir DIR]

For each model (the default CNN of configs/fashion_mnist_cnn.pbtxt, batch 128 per rank; the MLP of
about 100M parameters of tools/bench/checkpoint.py, batch 8 per rank), Gloo, one compute thread
per worker, a checkpoint every --*-every steps:
  restart  trainrt launch --standalone --nproc-per-node 2 --max-restarts 1 --recovery restart:
           the whole group restarts and resumes from the newest checkpoint on disk;
  memory   the same with --recovery memory: only the killed worker is restarted and receives the
           state from the survivor over the network;
  shrink   --recovery memory --max-restarts 0 with 3 workers and distributed.min_world_size=1:
           the killed worker is not replaced, the 2 survivors continue;
  peer     torchrun --standalone --nproc_per_node 2 --max_restarts 1 running
           tools/bench/peers/ddp_recovery.py (DDP; torch.save of model, optimizer and step every
           --*-every steps, written to a temporary file and renamed; resume from the newest).
Once rank 0 has logged step --*-kill (not a multiple of --*-every), the worker whose environment
has RANK=1 and the run's id is killed with SIGKILL. From rank 0's metrics.jsonl (one line per
step, each with its unix "time"; polled every 5 ms, the time a line was first seen where it has
none):
  downtime       the first train step logged after the recovery (after the membership line, or
                 after metrics.jsonl was rewritten by the restarted rank 0) minus the kill time;
  steps redone   the largest step logged before the recovery minus the first one after, plus 1;
  step           the median step time before the kill, for reference; wall: the whole job.
Prints a table, the workers' own breakdown (trainrt's membership line, the peer's resume line),
and the goals: memory recovery within 1 s (CNN) / 2 s (100M MLP), at most 1 step redone, and at
least 10x less downtime than the peer. A missed goal is reported, not an error.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from checkpoint import config as mlp_config  # tools/bench/checkpoint.py: the 100M MLP's job

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = os.path.join(ROOT, "tools", "bench", "peers")
PEER = os.path.join(PEERS, "ddp_recovery.py")
CNN_CONFIG = os.path.join(ROOT, "configs", "fashion_mnist_cnn.pbtxt")
RUNS = ("restart", "memory", "shrink", "peer")
MODELS = ("cnn", "mlp100m")
MLP_HIDDEN = [4096] * 7
POLL_S = 0.005
# Every process a job starts inherits this variable (trainrt launch and torchrun pass their
# environment on): the key to find them all, and to leave none behind.
MARKER = "TRAINRT_RECOVERY_BENCH"
GOAL_DOWNTIME_S = {"cnn": 1.0, "mlp100m": 2.0}
GOAL_REDONE = 1
GOAL_RATIO = 10.0


class MetricsTail:
    """Follows a metrics.jsonl that is appended to and, on a restart, replaced by a rename (trainrt
    rewrites it keeping the lines through the resumed step). `entries` holds, in the order seen,
    (seen_time, line, raw, repeated): repeated lines (re-read after a rewrite) keep the time they
    were first seen; a replacement of the file is an entry with line {"split": "_rewritten"}."""

    def __init__(self, path):
        self.path = path
        self.file = None
        self.inode = None
        self.offset = 0
        self.partial = b""
        self.entries = []
        self.first_seen = {}

    def poll(self):
        now = time.time()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return
        if self.file is None or stat.st_ino != self.inode or stat.st_size < self.offset:
            if self.file is not None:
                self.file.close()
                self.entries.append((now, {"split": "_rewritten"}, b"", False))
            try:
                self.file = open(self.path, "rb")
            except FileNotFoundError:
                self.file = None
                return
            self.inode = os.fstat(self.file.fileno()).st_ino
            self.offset = 0
            self.partial = b""
        data = self.file.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            repeated = raw in self.first_seen
            self.first_seen.setdefault(raw, now)
            self.entries.append((self.first_seen[raw], line, raw, repeated))

    def close(self):
        if self.file is not None:
            self.file.close()

    def last_step(self):
        steps = [line["step"] for _, line, _, _ in self.entries if is_train(line)]
        return max(steps) if steps else -1


def is_train(line):
    return line.get("split") == "train" and "loss" in line


def line_time(entry):
    seen, line, _, _ = entry
    return float(line.get("time", seen))


def bench_processes(key):
    """pid -> environment (a dict) of every process started for the job `key`."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:
            continue  # gone, or not ours to read
        env = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in env.items()}
        if env.get(MARKER) == key or env.get("TORCHELASTIC_RUN_ID") == key:
            found[int(pid)] = env
    return found


def parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def rank_processes(key, rank):
    """The workers of rank `rank` of the job `key`: their environment has RANK=rank and
    TORCHELASTIC_RUN_ID=key (torchrun --standalone picks its own run id, a uuid, so the bench's
    marker variable stands in for it there); a child that inherited the environment is left out."""
    matches = {pid for pid, env in bench_processes(key).items() if env.get("RANK") == str(rank)}
    return sorted(pid for pid in matches if parent(pid) not in matches)


def stop_job(proc, key):
    """Ends the job: its process group (the launcher), then any process left with the marker
    (each worker has a process group of its own under trainrt launch), by pid."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
    for _ in range(50):
        left = bench_processes(key)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    if proc.poll() is None:
        proc.wait()


class Job:
    """A launched job: run_dir holds rank 0's metrics.jsonl; the output goes to log."""

    def __init__(self, model, run, command, run_dir, env, key, kill_step, timeout):
        self.model, self.run, self.command, self.run_dir = model, run, command, run_dir
        self.env, self.key, self.kill_step, self.timeout = env, key, kill_step, timeout
        self.log = run_dir + ".log"


def run_job(job):
    """Runs `job`, kills its rank 1 once step kill_step is logged, waits for the end. Returns the
    measurement (a dict), with "error" set where something did not happen."""
    os.makedirs(os.path.dirname(job.run_dir), exist_ok=True)
    tail = MetricsTail(os.path.join(job.run_dir, "metrics.jsonl"))
    result = {"model": job.model, "run": job.run, "killed": None}
    with open(job.log, "w") as log:
        start = time.time()
        proc = subprocess.Popen(job.command, stdout=log, stderr=subprocess.STDOUT, env=job.env,
                                start_new_session=True, cwd=ROOT)
        try:
            deadline = start + job.timeout
            kill_time = None
            kill_index = None
            while True:
                tail.poll()
                if proc.poll() is not None:
                    tail.poll()
                    break
                if time.time() > deadline:
                    result["error"] = f"timed out after {job.timeout} s"
                    break
                if kill_time is None and tail.last_step() >= job.kill_step:
                    targets = rank_processes(job.key, 1)
                    if targets:
                        kill_index = len(tail.entries)
                        kill_time = time.time()
                        for pid in targets:
                            os.kill(pid, signal.SIGKILL)
                        result["killed"] = targets
                        result["killed_after_step"] = tail.last_step()
                time.sleep(POLL_S)
        finally:
            stop_job(proc, job.key)
            tail.close()
        result["wall_s"] = time.time() - start
        result["rc"] = proc.returncode
    if kill_time is None:
        result.setdefault("error", f"no worker of rank 1 was killed (last step logged: {tail.last_step()})")
        return result
    if proc.returncode != 0 and "error" not in result:
        result["error"] = f"the job exited with status {proc.returncode}"
    result.update(analyse(tail.entries, kill_index, kill_time))
    return result


def analyse(entries, kill_index, kill_time):
    """Downtime, redone steps and step time from the lines seen (see the module's docstring)."""
    before = [e for e in entries[:kill_index] if is_train(e[1])]
    in_flight = []  # train lines logged after the kill, before the recovery's marker
    marker = None
    resumed = None
    breakdown = None
    for entry in entries[kill_index:]:
        _, line, _, repeated = entry
        if repeated:
            continue
        split = line.get("split")
        if split == "_rewritten" or split in ("membership", "resume"):
            if split != "_rewritten" and breakdown is None:
                breakdown = line
            marker = marker or split
            continue
        if not is_train(line):
            continue
        if line_time(entry) <= kill_time:
            before.append(entry)  # logged before the kill, seen just after it
        elif marker is None:
            in_flight.append(entry)
        else:
            resumed = entry
            break
    steps = sorted((e[1]["step"], line_time(e)) for e in before)
    gaps = [t1 - t0 for (s0, t0), (s1, t1) in zip(steps, steps[1:]) if s1 == s0 + 1 and s0 > 2]
    step_s = statistics.median(gaps) if gaps else float("nan")
    notes = []
    if resumed is None and in_flight:
        # No marker (neither a rewrite nor a membership line): the first line after the kill,
        # unless it came within half a step of the kill, the next step of one still in flight.
        notes.append("no recovery marker in metrics.jsonl; first train line after the kill not in flight taken")
        last = steps[-1][0] if steps else -1
        skipped = 0
        while (skipped + 1 < len(in_flight) and in_flight[skipped][1]["step"] == last + 1
               and line_time(in_flight[skipped]) - kill_time < 0.5 * step_s):
            last = in_flight[skipped][1]["step"]
            skipped += 1
        resumed = in_flight[skipped]
        in_flight = in_flight[:skipped]
    if resumed is None:
        return {"error": "no train step was logged after the kill"}
    last_before = max([s for s, _ in steps] + [e[1]["step"] for e in in_flight] + [-1])
    if in_flight:
        notes.append(f"step(s) {', '.join(str(e[1]['step']) for e in in_flight)} logged "
                     f"{1000 * (line_time(in_flight[0]) - kill_time):.0f} ms after the kill, "
                     f"before the recovery (in flight; counted as done before it)")
    return {"downtime_s": line_time(resumed) - kill_time,
            "steps_redone": max(0, last_before - resumed[1]["step"] + 1),
            "last_step_before": last_before, "resumed_step": resumed[1]["step"],
            "step_s": step_s, "breakdown": breakdown, "notes": notes}


def job_env(key):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK",
                        "TORCHELASTIC_RUN_ID")}
    env["OMP_NUM_THREADS"] = "1"
    env[MARKER] = key
    return env


def build_jobs(args, workdir):
    jobs = []
    for model in args.models:
        steps, every, kill = ((args.cnn_steps, args.cnn_every, args.cnn_kill) if model == "cnn"
                              else (args.mlp_steps, args.mlp_every, args.mlp_kill))
        if model == "cnn":
            config = CNN_CONFIG
        else:
            config = os.path.join(workdir, "mlp100m.pbtxt")
            with open(config, "w") as f:
                f.write(mlp_config(MLP_HIDDEN, steps))
        sets = ["train.log_every_steps=1", f"train.max_steps={steps}", "runtime.threads=1",
                f"checkpoint.every_steps={every}", "checkpoint.every_epoch=false",
                "checkpoint.at_end=false", "checkpoint.keep_last=2"]
        for run in args.runs:
            key = f"recovery-{model}-{run}-{os.getpid()}"
            run_dir = os.path.join(workdir, f"{model}-{run}")
            if run == "peer":
                if model == "cnn":
                    peer_args = ["--model", "cnn", "--batch-size", "128", "--lr", "0.05", "--momentum", "0.9",
                                 "--nesterov", "--schedule", "cosine"]
                else:  # checkpoint.py's job: plain SGD momentum, constant, 4096 samples, batch 8
                    peer_args = ["--model", "mlp", "--hidden"] + [str(h) for h in MLP_HIDDEN] + [
                        "--batch-size", "8", "--lr", "0.001", "--momentum", "0.9", "--schedule", "constant",
                        "--train-limit", "4096", "--seed", "1"]
                # Debian's torchrun 1.13 on Python 3.11 fails on its default --redirects/--tee of 0
                # (see ddp.py); 1 (stdout) avoids that.
                command = ["/usr/bin/python3", "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", "--max_restarts", "1", "--redirects", "1", "--tee", "1",
                           "--log_dir", run_dir + "-torchrun-logs", PEER, "--run-dir", run_dir,
                           "--steps", str(steps), "--every", str(every), "--threads", "1"] + peer_args
                env = job_env(key)
                env["PYTHONPATH"] = PEERS
            else:
                nproc, restarts = (3, 0) if run == "shrink" else (2, 1)
                launch = [args.trainrt, "launch", "--standalone", "--nproc-per-node", str(nproc),
                          "--max-restarts", str(restarts), "--run-id", key,
                          "--recovery", "restart" if run == "restart" else "memory"]
                run_sets = sets + (["distributed.min_world_size=1"] if run == "shrink" else [])
                command = launch + ["--", args.trainrt, "train", config, "--run-dir", run_dir]
                for item in run_sets:
                    command += ["--set", item]
                env = job_env(key)
            jobs.append(Job(model, run, command, run_dir, env, key, kill, args.timeout))
    return jobs


def fmt(value, spec):
    return "-" if value is None or value != value else format(value, spec)


def report(results):
    peer = {r["model"]: r for r in results if r["run"] == "peer" and "downtime_s" in r}
    names = {"restart": "trainrt, restart from disk", "memory": "trainrt, memory replacement",
             "shrink": "trainrt, shrink 3 -> 2", "peer": "torchrun + DDP, torch.save/load"}
    print("\n| model | run | downtime s | steps redone | step s | ratio peer downtime / this | wall s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        if "downtime_s" not in r:
            print(f"| {r['model']} | {names[r['run']]} | failed: {r.get('error')} | | | | {fmt(r.get('wall_s'), '.1f')} |")
            continue
        ratio = peer[r["model"]]["downtime_s"] / r["downtime_s"] if r["model"] in peer else None
        print(f"| {r['model']} | {names[r['run']]} | {r['downtime_s']:.2f} | {r['steps_redone']} | "
              f"{fmt(r['step_s'], '.3f')} | {fmt(ratio, '.1f')} | {r['wall_s']:.1f} |")

    print("\nDetails:")
    for r in results:
        head = f"  {r['model']} {r['run']}:"
        if r.get("killed"):
            head += f" killed pid {','.join(map(str, r['killed']))} after step {r['killed_after_step']};"
        if "downtime_s" in r:
            head += f" last step before the recovery {r['last_step_before']}, first after {r['resumed_step']}"
        if r.get("rc"):
            head += f"; the job exited with status {r['rc']}"
        print(head)
        b = r.get("breakdown")
        if b and b.get("split") == "membership":
            keys = ("step", "generation", "world_size", "lost_ranks", "joined_ranks", "detect_ms",
                    "rendezvous_ms", "transfer_ms", "downtime_ms", "redone_steps", "source")
            print("    membership: " + ", ".join(f"{k}={b[k]}" for k in keys if k in b))
        elif b and b.get("split") == "resume":
            print(f"    resume: from step {b.get('step')}; process start to process group "
                  f"{fmt(b.get('init_ms'), '.0f')} ms, torch.load + load_state_dict "
                  f"{fmt(b.get('load_ms'), '.0f')} ms, process start to resumed "
                  f"{fmt(b.get('start_ms'), '.0f')} ms")
        for note in r.get("notes", []):
            print(f"    note: {note}")
        if "error" in r:
            print(f"    error: {r['error']} (the end of its log is printed above)")

    print("\nGoals (trainrt's memory recovery; a miss is reported, not an error):")
    for r in results:
        if r["run"] not in ("memory", "shrink") or "downtime_s" not in r:
            continue
        goal = GOAL_DOWNTIME_S[r["model"]]
        verdict = lambda ok: "PASS" if ok else "FAIL"
        print(f"  {r['model']} {r['run']}: downtime {r['downtime_s']:.2f} s <= {goal:g} s: "
              f"{verdict(r['downtime_s'] <= goal)}; steps redone {r['steps_redone']} <= {GOAL_REDONE}: "
              f"{verdict(r['steps_redone'] <= GOAL_REDONE)}", end="")
        if r["model"] in peer:
            ratio = peer[r["model"]]["downtime_s"] / r["downtime_s"]
            print(f"; {ratio:.1f}x less downtime than the peer >= {GOAL_RATIO:g}x: {verdict(ratio >= GOAL_RATIO)}",
                  end="")
            # The downtime ends with a whole step trained after the recovery: no recovery, however
            # fast, has less downtime than one step, so the ratio cannot pass the peer's / a step.
            step = r.get("step_s")
            if ratio < GOAL_RATIO and step:
                print(f" (a recovery of no time at all would still take one step, {step:.2f} s: at most "
                      f"{peer[r['model']]['downtime_s'] / step:.1f}x here; this one adds "
                      f"{r['downtime_s'] - step:.2f} s to it)")
            else:
                print()
        else:
            print("; against the peer: not run")


def interrupted(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main():
    # Ctrl-C or SIGTERM stops the running job and removes the work dir (also when started in the
    # background, where SIGINT starts out ignored).
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trainrt", default=os.path.join(ROOT, "build", "bin", "trainrt"))
    parser.add_argument("--models", default=",".join(MODELS), help="a subset of cnn,mlp100m")
    parser.add_argument("--runs", default=",".join(RUNS), help="a subset of restart,memory,shrink,peer")
    parser.add_argument("--cnn-steps", type=int, default=150, help="train.max_steps of the CNN runs")
    parser.add_argument("--cnn-every", type=int, default=50, help="checkpoint every N steps (CNN)")
    parser.add_argument("--cnn-kill", type=int, default=70, help="kill rank 1 once this step is logged (CNN)")
    parser.add_argument("--mlp-steps", type=int, default=30)
    parser.add_argument("--mlp-every", type=int, default=10)
    parser.add_argument("--mlp-kill", type=int, default=17)
    parser.add_argument("--timeout", type=float, default=300, help="seconds each job may take")
    parser.add_argument("--workdir", default=None, help="the work dir (runs, logs) is made in DIR (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (runs, logs, checkpoints)")
    args = parser.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    args.runs = [r for r in args.runs.split(",") if r]
    for name, given, known in (("--models", args.models, MODELS), ("--runs", args.runs, RUNS)):
        if not set(given) <= set(known):
            parser.error(f"{name}: {', '.join(sorted(set(given) - set(known)))} unknown (choose from {','.join(known)})")
    for model in args.models:
        steps, every, kill = ((args.cnn_steps, args.cnn_every, args.cnn_kill) if model == "cnn"
                              else (args.mlp_steps, args.mlp_every, args.mlp_kill))
        if kill % every == 0 or not every < kill < steps:
            parser.error(f"{model}: the kill step ({kill}) must be past the first checkpoint ({every}), "
                         f"not a multiple of it, and before the last step ({steps})")
    trainrt_runs = [r for r in args.runs if r != "peer"]
    if trainrt_runs and not os.path.exists(args.trainrt):
        sys.exit(f"{args.trainrt} is missing: run tools/run build first")

    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="trainrt-recovery-bench-", dir=args.workdir)
    results = []
    try:
        jobs = build_jobs(args, workdir)
        for job in jobs:
            print(f"running {job.model} {job.run} (kill rank 1 at step {job.kill_step}) ...",
                  file=sys.stderr, flush=True)
            result = run_job(job)
            result["log"] = job.log
            if "error" in result:
                with open(job.log, errors="replace") as f:
                    tail = f.read()[-3000:]
                print(f"  {result['error']}; the end of {job.log}:\n{tail}", file=sys.stderr, flush=True)
            results.append(result)
            if not args.keep:  # the 100M MLP's checkpoints are 800 MB each
                shutil.rmtree(os.path.join(job.run_dir, "checkpoints"), ignore_errors=True)
    finally:
        if args.keep:
            print(f"work dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nSIGKILL of rank 1, one compute thread per worker, Gloo; CNN: kill at step {args.cnn_kill}, "
          f"a checkpoint every {args.cnn_every}, {args.cnn_steps} steps; 100M MLP: kill at step "
          f"{args.mlp_kill}, every {args.mlp_every}, {args.mlp_steps} steps")
    report(results)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as stopped:
        sys.exit(f"stopped by {stopped}; the running job was stopped and the work dir removed")
