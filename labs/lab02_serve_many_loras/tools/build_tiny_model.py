"""Build lab02's tiny offline model: a tokenizer, a ~3M-parameter Llama and three LoRA adapters.

    python labs/lab02_serve_many_loras/tools/build_tiny_model.py --out labs/lab02_serve_many_loras/model

Nothing is downloaded. The training text is a fixed list of the standard library's own .py files.
Layout written (``.stamp`` last, so a half-built folder is never mistaken for a finished one):

    model/base/                  LlamaForCausalLM + tokenizer (save_pretrained, float32)
    model/adapters/<name>/       PEFT LoRA adapter (r=8, alpha=16, q,k,v,o_proj)
    model/build.json             seed, sizes, losses, the tasks each adapter learned
    model/.stamp

Each adapter learns a tiny task of its own for a few steps, so that its greedy continuation of
the same prompt reads differently from the base model's and from the other adapters':
    shout   - Python source in UPPER CASE
    count   - comma-separated counting: "17, 18, 19, 20, ..."
    define  - one-line function definitions: "def f_3(x):\n    return x + 3\n"
Deterministic for a given --seed on a given machine (the text comes from the local stdlib).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sysconfig
import time
from pathlib import Path

# A fixed, ordered list: the same files on every Python 3.11, skipping any that are missing.
STDLIB_FILES = [
    "abc.py", "argparse.py", "ast.py", "base64.py", "bisect.py", "calendar.py", "cmd.py", "codecs.py",
    "collections/__init__.py", "colorsys.py", "contextlib.py", "copy.py", "csv.py", "dataclasses.py",
    "datetime.py", "difflib.py", "enum.py", "fnmatch.py", "fractions.py", "functools.py", "getopt.py",
    "glob.py", "gzip.py", "hashlib.py", "heapq.py", "hmac.py", "inspect.py", "ipaddress.py",
    "json/decoder.py", "json/encoder.py", "keyword.py", "linecache.py", "locale.py", "logging/__init__.py",
    "numbers.py", "operator.py", "optparse.py", "os.py", "pathlib.py", "pprint.py", "queue.py",
    "random.py", "re/__init__.py", "reprlib.py", "sched.py", "secrets.py", "shlex.py", "shutil.py",
    "statistics.py", "string.py", "textwrap.py", "threading.py", "timeit.py", "tokenize.py",
    "traceback.py", "types.py", "typing.py", "uuid.py", "warnings.py", "weakref.py", "zipfile.py",
]
ADAPTERS = ("shout", "count", "define")
VOCAB = 2048
SEQ = 128


def stdlib_text() -> str:
    root = Path(sysconfig.get_paths()["stdlib"])
    parts = [(root / f).read_text(encoding="utf-8", errors="replace") for f in STDLIB_FILES if (root / f).is_file()]
    if len(parts) < 20:
        raise SystemExit(f"found only {len(parts)} stdlib files under {root}; cannot train the tokenizer")
    return "\n".join(parts)


def train_tokenizer(text: str, out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # one chunk per file-sized piece keeps training deterministic and fast
    chunks = [text[i:i + 20000] for i in range(0, len(text), 20000)]
    tok.train_from_iterator(chunks, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(out)
    return fast


def busy_cores(seconds: float = 0.5) -> float:
    """How many cores other work keeps busy right now (from /proc/stat over ``seconds``; the
    1-minute load average where there is none). The load average alone would still count the
    pip install that `make` ran just before."""
    def snap():
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]            # all, idle + iowait
    try:
        total0, idle0 = snap()
        time.sleep(seconds)
        total1, idle1 = snap()
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0]
    total = total1 - total0
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / total) if total > 0 else 0.0


def batches(ids, n_steps: int, batch: int, gen):
    import torch
    ids = torch.as_tensor(ids, dtype=torch.long)
    hi = len(ids) - SEQ - 1
    for _ in range(n_steps):
        starts = torch.randint(0, hi, (batch,), generator=gen)
        yield torch.stack([ids[s:s + SEQ] for s in starts.tolist()])


def train(model, ids, steps: int, lr: float, batch: int, gen) -> list[float]:
    import torch
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    losses = []
    model.train()
    for x in batches(ids, steps, batch, gen):
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses


def task_text(name: str, source: str, gen) -> str:
    import torch
    if name == "shout":
        return source[:400_000].upper()
    if name == "count":
        out = []
        for _ in range(400):
            start = int(torch.randint(0, 200, (1,), generator=gen))
            out.append(", ".join(str(n) for n in range(start, start + 30)))
        return "\n".join(out)
    if name == "define":
        return "".join(f"def f_{i}(x):\n    return x + {i}\n\n" for i in range(3000))
    raise KeyError(name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-steps", type=int, default=200)
    ap.add_argument("--adapter-steps", type=int, default=40)
    ap.add_argument("--threads", default="auto", choices=["auto", "1", "2"],
                    help="torch threads: auto = 2 on an idle machine, else 1")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    t0 = time.perf_counter()
    # Two threads on an idle machine: 112 s instead of 158 s on 2 cores, with the same bytes (the
    # base and all three adapters came out bit-for-bit equal to a one-thread build, torch 2.13 on
    # x86). With other work running, two threads crawl (3-8x; the base alone took over 7 min
    # beside a grading loop): one thread then. "auto" looks once, at the start.
    threads = args.threads
    if threads == "auto":
        threads = 2 if (os.cpu_count() or 1) >= 2 and busy_cores() < 0.5 else 1
    torch.set_num_threads(int(threads))
    print(f"torch threads: {threads}", flush=True)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    (out / "base").mkdir(parents=True)

    text = stdlib_text()
    tok = train_tokenizer(text, out / "base")
    ids = tok(text)["input_ids"]
    print(f"tokenizer: vocab {len(tok)}, {len(ids):,} training tokens", flush=True)

    config = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, torch_dtype="float32")
    model = LlamaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(args.seed)
    base_losses = train(model, ids, args.base_steps, 3e-3, 16, gen)
    print(f"base: {n_params:,} params, loss {base_losses[0]} -> {base_losses[-1]} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    model.save_pretrained(out / "base", safe_serialization=True)
    model.generation_config.save_pretrained(out / "base")

    adapter_info = {}
    for k, name in enumerate(ADAPTERS):
        torch.manual_seed(args.seed + 1 + k)
        base = LlamaForCausalLM.from_pretrained(out / "base", dtype=torch.float32)
        cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        peft_model = get_peft_model(base, cfg)
        task_ids = tok(task_text(name, text, gen))["input_ids"]
        losses = train(peft_model, task_ids, args.adapter_steps, 1e-2, 16, gen)
        peft_model.save_pretrained(out / "adapters" / name)
        adapter_info[name] = {"loss_first": losses[0], "loss_last": losses[-1], "steps": len(losses)}
        print(f"adapter {name}: loss {losses[0]} -> {losses[-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)

    (out / "build.json").write_text(json.dumps({
        "seed": args.seed, "params": n_params, "vocab": len(tok), "base_steps": args.base_steps,
        "base_loss_first": base_losses[0], "base_loss_last": base_losses[-1],
        "adapters": adapter_info, "torch": torch.__version__, "seconds": round(time.perf_counter() - t0, 1),
    }, indent=2) + "\n")
    (out / ".stamp").write_text("ok\n")
    print(f"done in {time.perf_counter() - t0:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
