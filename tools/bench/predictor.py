#!/usr/bin/python3
"""Inference latency and throughput of trainrt's Predictor against PyTorch on this machine, in one
run (issue 7).

    tools/bench/predictor.py [--iterations 300] [--threads 2] [--repeats 3]

Makes two bundles with build/bin/trainrt (a few training steps, then `trainrt export`): the default
CNN (configs/fashion_mnist_cnn.pbtxt) and the TorchScript SmallConvNet of
examples/torchscript_model. Then times, alternating --repeats times, one call on a batch of 1 and
of 64 (mean ms per call after a warm-up, the median over repeats):
  cnn            trainrt Predictor (LibTorch C++ module)       vs PyTorch eager, same weights
  torchscript    trainrt Predictor, module as it is (--plain)  vs torch.jit.load
  torchscript+   trainrt Predictor, frozen and optimized        vs the same in Python
                 (oneDNN on the CPU)
and the gain of the optimized path over the plain one. Ratio = trainrt / PyTorch (lower is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINRT = os.path.join(ROOT, "build", "bin", "trainrt")
BENCH = os.path.join(ROOT, "build", "bin", "trainrt_bench_predictor")
PEER = os.path.join(ROOT, "tools", "bench", "peers", "predictor.py")
PYTHON = "/usr/bin/python3"


def make_bundle(work, name, config, extra):
    run_dir = os.path.join(work, name)
    sets = ["train.max_steps=3", "data.train_limit=512", "data.eval_limit=256", "runtime.device=cpu",
            "observe.tensorboard=false"] + extra
    command = [TRAINRT, "train", config, "--run-dir", run_dir]
    for assignment in sets:
        command += ["--set", assignment]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    bundle = os.path.join(work, name + "_bundle")
    subprocess.run([TRAINRT, "export", "--checkpoint", run_dir, "--out", bundle], check=True,
                   stdout=subprocess.DEVNULL)
    return bundle


def trainrt_ms(bundle, batch, args, plain=False):
    command = [BENCH, "--bundle", bundle, "--batch", str(batch), "--iterations", str(args.iterations),
               "--threads", str(args.threads)] + (["--plain"] if plain else [])
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["mean_ms"]


def peer_ms(bundle, batch, args, mode):
    command = [PYTHON, PEER, "--bundle", bundle, "--batch", str(batch), "--iterations", str(args.iterations),
               "--threads", str(args.threads), "--mode", mode]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["mean_ms"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        cnn = make_bundle(work, "cnn", os.path.join(ROOT, "configs", "fashion_mnist_cnn.pbtxt"), [])
        module = os.path.join(work, "model.ts")
        subprocess.run([PYTHON, os.path.join(ROOT, "examples", "torchscript_model", "make_model.py"), module],
                       check=True, stdout=subprocess.DEVNULL)
        script = make_bundle(work, "torchscript",
                             os.path.join(ROOT, "examples", "torchscript_model", "torchscript_model.pbtxt"),
                             [f"model.torchscript.path={module}"])
        cases = [("cnn", cnn, {}, "eager"), ("torchscript", script, {"plain": True}, "jit"),
                 ("torchscript+", script, {}, "jit_optimized")]
        rows = []
        for name, bundle, options, mode in cases:
            for batch in (1, 64):
                ours, theirs = [], []
                for _ in range(args.repeats):
                    ours.append(trainrt_ms(bundle, batch, args, **options))
                    theirs.append(peer_ms(bundle, batch, args, mode))
                rows.append((name, batch, statistics.median(ours), statistics.median(theirs)))
                print(f"{name} batch {batch}: trainrt {rows[-1][2]:.3f} ms, PyTorch {rows[-1][3]:.3f} ms", flush=True)
    print(f"\n{args.threads} threads, {args.iterations} calls per run, median of {args.repeats} alternating runs")
    print("| model | batch | trainrt ms | PyTorch ms | ratio | trainrt images/s | PyTorch images/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, batch, ours, theirs in rows:
        print(f"| {name} | {batch} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} | {1000 * batch / ours:.0f} | "
              f"{1000 * batch / theirs:.0f} |")
    plain = {b: o for n, b, o, _ in rows if n == "torchscript"}
    optimized = {b: o for n, b, o, _ in rows if n == "torchscript+"}
    for batch in (1, 64):
        print(f"frozen + optimized TorchScript (oneDNN) vs plain, batch {batch}: {plain[batch] / optimized[batch]:.2f}x")


if __name__ == "__main__":
    main()
