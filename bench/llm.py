"""LLM benchmark: time to first token and tokens/s, llama.cpp in-process vs the HTTP path, on SmolLM2.

    python bench/llm.py [--model auto] [--threads N] [--prompt-tokens 1000] [--new-tokens 128] [--runs 3]

Both paths get the same ~1,000-token grounded prompt (numbered passages + a question), greedy decoding. The
passages differ from run to run; as in the product, only the prompt's system turn is kept from the previous
run (``llm/prompt_prefix.py``; its size is printed), everything after it is read on every run. The HTTP path
is ``python -m llm.server`` (llama-cpp-python's OpenAI-compatible server, the one ``rag serve-llm`` runs) on a
free local port, streamed over SSE by ``OpenAIEngine``. The two paths run interleaved (in-process, then HTTP,
for each prompt), so a pair shares the host's speed of the moment; the HTTP overhead is the median over pairs.

Goals on a 2-core machine: in-process >= 50 tokens/s and first token <= 1 s; HTTP adds <= 10%.
Figures depend on what else runs on the machine: the load average is printed first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm.factory import resolve_model_path  # noqa: E402
from llm.cpu_threads import default_threads  # noqa: E402
from llm.llamacpp_engine import LlamaCppEngine  # noqa: E402
from llm.openai_engine import OpenAIEngine  # noqa: E402
from llm.protocol import ChatEngine, GenerationParams, Message  # noqa: E402

SYSTEM = (
    "You answer questions using only the numbered passages. Cite passages like [2]. "
    "If the passages do not contain the answer, say that the documents do not say."
)
SENTENCES = [
    "Cryptographic keys should be generated with an approved random bit generator.",
    "A key's cryptoperiod is the span of time during which it is authorized for use.",
    "RSA keys of 2048 bits provide about 112 bits of security strength.",
    "Elliptic curve keys of 224 bits give comparable strength at a smaller size.",
    "Key material must be destroyed when it is no longer needed.",
    "Transformers use self-attention to relate every token to every other token.",
    "Retrieval-augmented generation grounds a model's answer in retrieved passages.",
    "Page numbers let a reader check every claim against the source document.",
]


@dataclass
class Run:
    first_token_s: float
    total_s: float
    new_tokens: int
    cpu_s: float  # CPU seconds the model's process used: under contention, wall time alone misleads
    prompt_cpu_s: float  # of which before the first token (reading the prompt)

    @property
    def decode_tokens_per_s(self) -> float:
        decode = self.total_s - self.first_token_s
        return (self.new_tokens - 1) / decode if decode > 0 and self.new_tokens > 1 else float("nan")


def build_question(engine: LlamaCppEngine, target_tokens: int, variant: int) -> list[Message]:
    """Numbered passages, as many as keep the formatted prompt within about ``target_tokens``."""

    def messages_with(count: int) -> list[Message]:
        passages = [
            f"[{i + 1}] (doc{variant}.pdf, p. {i + 1}) "
            + " ".join(SENTENCES[(i + k + variant) % len(SENTENCES)] for k in range(4))
            for i in range(count)
        ]
        question = f"Question {variant}: How long should keys be used, and why? Explain in detail."
        return [Message("system", SYSTEM), Message("user", "Passages:\n" + "\n\n".join(passages) + "\n\n" + question)]

    count = 1
    while engine.prompt_tokens(messages_with(count + 1)) <= target_tokens:
        count += 1
    return messages_with(count)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of this process (``pid`` None) or of another one (from /proc)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    engine: ChatEngine,
    messages: list[Message],
    params: GenerationParams,
    counter: LlamaCppEngine,
    pid: int | None = None,
) -> Run:
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    first = None
    parts: list[str] = []
    prompt_cpu = None
    for delta in engine.stream(messages, params):
        if first is None:
            first = time.perf_counter() - started
            prompt_cpu = cpu_seconds(pid) - cpu
        parts.append(delta)
    total = time.perf_counter() - started
    used = cpu_seconds(pid) - cpu
    return Run(first or total, total, counter.count_tokens("".join(parts)), used, prompt_cpu or used)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, threads: int, decode_threads: int, context: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "llm.server", "--model", str(model), "--port", str(port),
        "--threads", str(threads), "--decode-threads", str(decode_threads), "--context-length", str(context),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("the server did not start within 120 s")


def summarise(name: str, runs: list[Run], prompt_tokens: int) -> dict[str, float]:
    ttft = statistics.median(r.first_token_s for r in runs)
    tps = statistics.median(r.decode_tokens_per_s for r in runs)
    total = statistics.median(r.total_s for r in runs)
    new = statistics.median(r.new_tokens for r in runs)
    cpu = statistics.median(r.cpu_s for r in runs)
    prompt_rate = statistics.median(prompt_tokens / r.prompt_cpu_s for r in runs if r.prompt_cpu_s > 0)
    decode_rate = statistics.median(
        (r.new_tokens - 1) / (r.cpu_s - r.prompt_cpu_s) for r in runs if r.cpu_s > r.prompt_cpu_s and r.new_tokens > 1
    )
    print(
        f"{name:<22} first token {ttft:6.3f} s   decode {tps:6.1f} tok/s   prompt {prompt_tokens / ttft:7.0f} tok/s   "
        f"total {total:6.2f} s for {new:.0f} new tokens\n"
        f"{'':<22} CPU time {cpu:.2f} s: prompt {prompt_rate:.0f} tok per CPU-second, decode {decode_rate:.1f} tok per "
        "CPU-second (wall-clock figures on an idle machine approach these times the threads used)"
    )
    return {"ttft": ttft, "tps": tps, "total": total, "new": new, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="auto", help="GGUF path; 'auto' is the packaged SmolLM2")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--decode-threads", type=int, default=None, help="default: the engine's choice")
    parser.add_argument(
        "--no-fast-copy", action="store_true", help="load a Q4_1/Q5_x GGUF as it is, not from its Q8_0 copy"
    )
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the server

    model = resolve_model_path(args.model)
    load1, load5, _ = os.getloadavg()
    print(f"model {model.name}, {args.threads} threads, {os.cpu_count()} CPUs, load average {load1:.2f} / {load5:.2f}")
    params = GenerationParams(temperature=0.0, max_new_tokens=args.new_tokens)

    copies = None if args.no_fast_copy else Path(tempfile.mkdtemp(prefix="bench-llm-models-"))
    started = time.perf_counter()
    local = LlamaCppEngine(
        model, context_length=args.context, threads=args.threads, decode_threads=args.decode_threads,
        fast_copy_dir=copies,
    )  # fmt: skip
    print(
        f"in-process load {time.perf_counter() - started:.2f} s"
        + (" (with making the Q8_0 copy, once)" if local.loaded_path != model else "")
        + f", weights {local.loaded_path.name}, chat format {local.chat_format}, "
        f"{local.threads} threads reading prompts, {local.decode_threads} generating"
    )
    questions = [build_question(local, args.prompt_tokens, v) for v in range(args.runs + 1)]
    prompt_tokens = round(statistics.mean(local.prompt_tokens(q) for q in questions))
    kept = local.kept_prompt_tokens(questions[0])
    print(f"prompt {prompt_tokens} tokens ({kept} of them the system turn, kept between runs), up to {args.new_tokens} "
          f"new tokens, {args.runs} runs (+1 warm-up), medians:")

    measure(local, questions[-1], params, local)  # warm-up
    local_runs: list[Run] = []
    http_runs: list[Run] = []
    if args.skip_http:
        local_runs = [measure(local, q, params, local) for q in questions[:-1]]
    else:
        process, url = start_server(local.loaded_path, args.threads, local.decode_threads, args.context)
        try:
            remote = OpenAIEngine(url, context_length=args.context, timeout=300)
            measure(remote, questions[-1], params, local, process.pid)  # warm-up
            # Interleaved, in-process then HTTP for each prompt: this host's speed drifts by up to 2x within an
            # hour, and a pair run a few seconds apart shares the same speed.
            for q in questions[:-1]:
                local_runs.append(measure(local, q, params, local))
                http_runs.append(measure(remote, q, params, local, process.pid))
            remote.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    results = {"in-process": summarise("llama.cpp in-process", local_runs, prompt_tokens)}
    if http_runs:
        results["http"] = summarise("HTTP (llm.server)", http_runs, prompt_tokens)
        paired = [h.total_s / a.total_s - 1 for a, h in zip(local_runs, http_runs)]
        results["http"]["overhead"] = statistics.median(paired)
        a, b = results["in-process"], results["http"]
        print(
            f"HTTP overhead: first token {100 * (b['ttft'] / a['ttft'] - 1):+.1f}%, "
            f"decode speed {100 * (a['tps'] / b['tps'] - 1):+.1f}%, total {100 * (b['total'] / a['total'] - 1):+.1f}%; "
            f"per pair of runs, total: {', '.join(f'{100 * x:+.1f}%' for x in paired)} (median "
            f"{100 * b['overhead']:+.1f}%)"
            + ("" if args.threads == 1 else "; the server runs while the in-process model stays loaded")
        )
    a = results["in-process"]
    print(
        f"goals: decode >= 50 tok/s: {'met' if a['tps'] >= 50 else 'NOT met'}; "
        f"first token <= 1 s: {'met' if a['ttft'] <= 1 else 'NOT met'}"
        + (
            f"; HTTP <= 10% slower (median of pairs): {'met' if results['http']['overhead'] <= 0.10 else 'NOT met'}"
            if "http" in results
            else ""
        )
    )
    local.close()
    if copies is not None:
        shutil.rmtree(copies, ignore_errors=True)


if __name__ == "__main__":
    main()
