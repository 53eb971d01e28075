"""Lab 03 — what LoRA adapters cost, computed from a model's Hugging Face ``config.json``.

Everything here is integer arithmetic on shapes; no tensors, no downloads. The words used:

    shape      a ModelShape: the sizes that decide every count below (read from config.json)
    (in, out)  one linear layer's sizes; its weight W is out x in, a LoRA patch on it is
               A (r x in) plus B (out x r), i.e. r * (in + out) parameters
    targets    which projections an adapter patches: a list of names from ALL_LINEAR, or the
               string "all-linear" (all seven)
    bytes_per_param   2 for fp16/bf16, 4 for fp32, 1 for int8/fp8; a dtype name works too

Units are explicit everywhere: functions return plain counts (parameters) or bytes (int).
GiB = 2**30 bytes and GB = 10**9 bytes are different units, 7.4 % apart; ``format_bytes``
prints both so you never have to guess which one a number is in.

Contract for every public function (see README.md): bad input (an unknown target name, a rank
below 1, a missing config key, a negative count) raises ValueError naming the problem, before any
arithmetic. The ``check_*`` helpers and ``config_value`` below are provided by the course: use them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

# --------------------------------------------------------------------------------------------
# Course-provided units, names, types and input checks (not part of the exercise).
# --------------------------------------------------------------------------------------------

KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40       # binary units (what memory is made of)
kB, MB, GB, TB = 10**3, 10**6, 10**9, 10**12          # decimal units (what spec sheets print)

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
ALL_LINEAR = ATTENTION + MLP                          # what "all-linear" means in this lab

# vLLM runs some projections as ONE fused linear layer and gives it LoRA slots whole (slot_bytes):
# q, k, v are its qkv_proj; gate, up its gate_up_proj (dense models). For an MoE, one fused-MoE
# layer holds every expert's gate, up and down, and its LoRA slots hold all three.
VLLM_FUSED = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
VLLM_FUSED_MOE = (("q_proj", "k_proj", "v_proj"), MLP)

BYTES_PER_PARAM = {
    "float32": 4, "fp32": 4,
    "float16": 2, "fp16": 2, "half": 2, "bfloat16": 2, "bf16": 2,
    "int8": 1, "fp8": 1, "float8": 1,
}

Targets = Union[str, Sequence[str]]
BytesPerParam = Union[int, str]


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that decide its parameter and adapter counts.

    hidden_size          d, the width of the residual stream
    intermediate_size    the dense MLP's inner size (gate/up: d -> this, down: this -> d)
    num_layers           decoder layers
    num_heads            query heads; q_proj is d -> num_heads * head_dim
    num_kv_heads         key/value heads (grouped-query attention when < num_heads);
                         k_proj and v_proj are d -> num_kv_heads * head_dim
    head_dim             size of one head (often d / num_heads, but not always: Gemma-7B)
    vocab_size           rows of the token embedding (and of the LM head)
    tie_word_embeddings  True when the LM head reuses the embedding matrix (stored once)
    num_experts          0 for a dense MLP; otherwise every layer's MLP is this many routed
                         experts, each with its own gate/up/down (Mixtral style), plus a router
    expert_intermediate_size  each expert's inner size (0 for a dense model)
    name                 a label for tables and plots
    """

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool = False
    num_experts: int = 0
    expert_intermediate_size: int = 0
    name: str = ""

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "name":
                if not isinstance(v, str):
                    raise ValueError(f"ModelShape.name must be a str, got {v!r}")
            elif f.name == "tie_word_embeddings":
                if not isinstance(v, bool):
                    raise ValueError(f"ModelShape.tie_word_embeddings must be True or False, got {v!r}")
            else:
                low = 0 if f.name in ("num_experts", "expert_intermediate_size") else 1
                if isinstance(v, bool) or not isinstance(v, int) or v < low:
                    raise ValueError(f"ModelShape.{f.name} must be an int >= {low}, got {v!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"ModelShape: num_heads {self.num_heads} is not a multiple of "
                             f"num_kv_heads {self.num_kv_heads}")
        if (self.num_experts > 0) != (self.expert_intermediate_size > 0):
            raise ValueError(f"ModelShape: num_experts {self.num_experts} and expert_intermediate_size "
                             f"{self.expert_intermediate_size} must both be 0 (dense) or both > 0 (MoE)")

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0


_REQUIRED = object()


def config_value(config: Mapping[str, Any], *keys: str, default: Any = _REQUIRED) -> Any:
    """The value of the first of ``keys`` present in ``config`` (and not None).

    Several keys name the same thing in different model families (Mixtral's
    ``num_local_experts``, Qwen-MoE's ``num_experts``). With no default, a missing key raises
    ValueError naming it.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a dict (a parsed config.json), got {type(config).__name__}")
    for k in keys:
        if config.get(k) is not None:
            return config[k]
    if default is _REQUIRED:
        raise ValueError(f"config is missing the key {' / '.join(map(repr, keys))}")
    return default


def check_targets(targets: Targets) -> tuple[str, ...]:
    """``"all-linear"`` or a list of names from ALL_LINEAR -> the names, in ALL_LINEAR order, once each."""
    if isinstance(targets, str):
        if targets == "all-linear":
            return ALL_LINEAR
        raise ValueError(f"targets must be a list of module names or 'all-linear', got the string {targets!r}")
    try:
        names = list(targets)
    except TypeError:
        raise ValueError(f"targets must be a list of module names or 'all-linear', got {targets!r}") from None
    if not names:
        raise ValueError("targets is empty: name at least one module (or 'all-linear')")
    for n in names:
        if n not in ALL_LINEAR:
            raise ValueError(f"unknown target module {n!r}; known: {', '.join(ALL_LINEAR)} or 'all-linear'")
    return tuple(n for n in ALL_LINEAR if n in names)


def check_rank(rank: int, name: str = "rank") -> int:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"{name} must be an int >= 1, got {rank!r}")
    return rank


def check_count(n: int, name: str, low: int = 0) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < low:
        raise ValueError(f"{name} must be an int >= {low}, got {n!r}")
    return n


def check_rate(x: float, name: str, positive: bool = False) -> float:
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if not ok or x < 0 or (positive and x == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {x!r}")
    return float(x)


def check_bytes_per_param(bytes_per_param: BytesPerParam) -> int:
    """2, 4, 1 ... or a dtype name from BYTES_PER_PARAM ("bf16", "float32", "int8", ...) -> bytes."""
    if isinstance(bytes_per_param, str):
        if bytes_per_param.lower() not in BYTES_PER_PARAM:
            raise ValueError(f"unknown dtype name {bytes_per_param!r}; known: {', '.join(BYTES_PER_PARAM)}")
        return BYTES_PER_PARAM[bytes_per_param.lower()]
    return check_count(bytes_per_param, "bytes_per_param", low=1)


def check_shape(shape: ModelShape) -> ModelShape:
    if not isinstance(shape, ModelShape):
        raise ValueError(f"expected a ModelShape (see model_shape_from_config), got {type(shape).__name__}")
    return shape


def load_config(name: str) -> dict:
    """A shipped config fixture by name, e.g. ``load_config("llama-2-7b")`` (see configs/)."""
    here = Path(__file__).resolve().parent
    dirs = [here / "configs"] + [p / "labs" / here.name / "configs" for p in here.parents]
    try:
        from grader.labs import ROOT
        dirs.append(ROOT / "labs" / here.name / "configs")
    except ImportError:
        pass
    for d in dirs:
        if d.is_dir():
            path = d / f"{name}.json"
            if not path.is_file():
                known = sorted(p.stem for p in d.glob("*.json"))
                raise ValueError(f"no config named {name!r}; known: {', '.join(known)}")
            return json.loads(path.read_text())
    raise ValueError(f"cannot find the configs/ folder of {here.name} to load {name!r}")


# --------------------------------------------------------------------------------------------
# The exercise: TODO 1 ... TODO 18, in this order.
# --------------------------------------------------------------------------------------------


def format_bytes(n_bytes: int) -> str:
    """A byte count in a binary and a decimal unit: ``"12.55 GiB (13.48 GB)"``.

    Each part uses the largest unit the count reaches, with two decimals: binary from
    KiB/MiB/GiB/TiB (powers of 1024), decimal from kB/MB/GB/TB (powers of 1000). Below 1 kB
    there is one part only, in bytes (``"512 B"``); between 1,000 and 1,023 bytes the binary
    part is bytes with a thousands separator: ``"1,000 B (1.00 kB)"``. n_bytes: int >= 0.
    """
    raise NotImplementedError("lab03_lora_economics TODO 1: format_bytes — see labs/lab03_lora_economics/README.md")


def model_shape_from_config(config: Mapping[str, Any]) -> ModelShape:
    """Read a ModelShape from a Hugging Face ``config.json`` (already parsed into a dict).

    Keys (use ``config_value``): hidden_size, intermediate_size, num_hidden_layers,
    num_attention_heads, vocab_size are required. Optional: num_key_value_heads (default:
    num_attention_heads, i.e. no GQA), head_dim (default: hidden_size // num_attention_heads,
    which must then divide exactly), tie_word_embeddings (default False, the Llama default),
    the expert count num_local_experts (Mixtral) or num_experts (default 0 = dense), and
    moe_intermediate_size (the expert size; default: intermediate_size). name: _name_or_path,
    else model_type, else "". Missing required keys raise ValueError naming the key.
    Configs with shared experts (any key among n_shared_experts, shared_expert_intermediate_size)
    are not Mixtral-style: raise ValueError naming the key.
    """
    raise NotImplementedError("lab03_lora_economics TODO 2: model_shape_from_config — see labs/lab03_lora_economics/README.md")


def linear_shapes(shape: ModelShape) -> dict[str, tuple[int, int]]:
    """``{module name: (in_features, out_features)}`` for the seven projections of ONE layer.

    q_proj: d -> heads*head_dim; k_proj, v_proj: d -> kv_heads*head_dim (grouped-query
    attention makes these narrower); o_proj: heads*head_dim -> d; gate_proj, up_proj: d -> I;
    down_proj: I -> d, where I is the dense MLP size, or each expert's size for an MoE (the
    shapes are then those of ONE expert). Keys in ALL_LINEAR order.
    """
    raise NotImplementedError("lab03_lora_economics TODO 3: linear_shapes — see labs/lab03_lora_economics/README.md")


def adapter_params(shape: ModelShape, rank: int, targets: Targets) -> int:
    """Parameters of one rank-``rank`` LoRA adapter on ``targets`` in every layer.

    Each patched (in, out) layer adds A (r x in) and B (out x r): r * (in + out). For an MoE,
    a target among gate_proj/up_proj/down_proj patches every expert's copy (as vLLM's fused-MoE
    LoRA layer does: one A and B per expert), so it counts num_experts times; the router is
    never a target.
    """
    raise NotImplementedError("lab03_lora_economics TODO 4: adapter_params — see labs/lab03_lora_economics/README.md")


def adapter_bytes(shape: ModelShape, rank: int, targets: Targets, bytes_per_param: BytesPerParam = 2) -> int:
    """Bytes of that adapter's weights: adapter_params * bytes_per_param (int)."""
    raise NotImplementedError("lab03_lora_economics TODO 5: adapter_bytes — see labs/lab03_lora_economics/README.md")


def base_params(shape: ModelShape) -> int:
    """Parameters of the base model.

    Token embedding (vocab x d); the LM head (vocab x d) unless tied to the embedding; per
    layer: the four attention projections (from linear_shapes), the MLP (gate, up, down) or,
    for an MoE, num_experts copies of it plus the router (d x num_experts), and two RMSNorm
    weight vectors of size d; finally one more RMSNorm (d) before the head. No biases
    (Llama-family models have none).
    """
    raise NotImplementedError("lab03_lora_economics TODO 6: base_params — see labs/lab03_lora_economics/README.md")


def base_bytes(shape: ModelShape, bytes_per_param: BytesPerParam = 2) -> int:
    """Bytes of the base weights: base_params * bytes_per_param (int)."""
    raise NotImplementedError("lab03_lora_economics TODO 7: base_bytes — see labs/lab03_lora_economics/README.md")


def shrink_ratio(shape: ModelShape, rank: int, targets: Targets,
                 base_bytes_per_param: BytesPerParam = 2, adapter_bytes_per_param: BytesPerParam = 2) -> float:
    """How many times smaller the adapter is than the base weights: base bytes / adapter bytes.

    The two dtypes may differ (an int8 base with a bf16 adapter, say).
    """
    raise NotImplementedError("lab03_lora_economics TODO 8: shrink_ratio — see labs/lab03_lora_economics/README.md")


def slipped_shrink_ratio(shape: ModelShape, rank: int, targets: Targets, bytes_per_param: BytesPerParam = 2) -> float:
    """The shrink ratio you get by a unit slip: base size in GB, read as if it were GiB.

    Base bytes expressed in GB (decimal), times 1024 MiB per "GiB", divided by the adapter's
    size in MiB. This is the popular "~430x" for Llama-2-7B; the true ratio is shrink_ratio.
    """
    raise NotImplementedError("lab03_lora_economics TODO 9: slipped_shrink_ratio — see labs/lab03_lora_economics/README.md")


def adapters_per_gib(shape: ModelShape, rank: int, targets: Targets, bytes_per_param: BytesPerParam = 2) -> int:
    """How many whole adapters fit in one GiB (2**30 bytes) of memory (int)."""
    raise NotImplementedError("lab03_lora_economics TODO 10: adapters_per_gib — see labs/lab03_lora_economics/README.md")


def slot_bytes(shape: ModelShape, max_loras: int, max_lora_rank: int, targets: Targets,
               bytes_per_param: BytesPerParam = 2) -> int:
    """Bytes an engine (vLLM 0.32.0) reserves up front for its adapter slots.

    Every one of the ``max_loras`` slots is sized for ``max_lora_rank`` on every module the
    engine wraps, whatever rank the adapters loaded into it actually have (a rank-8 adapter in a
    rank-64 slot leaves 7/8 of it zero). targets: the engine's target modules
    (``--lora-target-modules``). vLLM wraps a fused layer whole: naming any part of a group in
    VLLM_FUSED (VLLM_FUSED_MOE for an MoE) reserves slots for every part of that group, so
    ``["q_proj"]`` costs what ``["q_proj", "k_proj", "v_proj"]`` does. Only the seven
    projections are counted: the embedding and LM-head slots that vLLM's default targets add
    for some models (Llama, not Gemma) are not part of this function.
    """
    raise NotImplementedError("lab03_lora_economics TODO 11: slot_bytes — see labs/lab03_lora_economics/README.md")


def layer_size_ratio(in_features: int, out_features: int, rank: int) -> float:
    """How many times larger one layer's W (out x in) is than its adapter's A + B."""
    raise NotImplementedError("lab03_lora_economics TODO 12: layer_size_ratio — see labs/lab03_lora_economics/README.md")


def lora_flop_overhead(in_features: int, out_features: int, rank: int) -> float:
    """Extra multiply-adds of shrink + expand, as a fraction of the base product's.

    Per token the base costs in*out multiply-adds; the adapter r*in (shrink) + r*out (expand).
    """
    raise NotImplementedError("lab03_lora_economics TODO 13: lora_flop_overhead — see labs/lab03_lora_economics/README.md")


def engines_needed(tenants: int, max_loras: int) -> int:
    """Engines (one GPU each) to give each of ``tenants`` adapters a slot of its own.

    The naive bound: each engine holds ``max_loras`` adapters at once; load is ignored.
    0 tenants need 0 engines.
    """
    raise NotImplementedError("lab03_lora_economics TODO 14: engines_needed — see labs/lab03_lora_economics/README.md")


def gpus_saved(tenants: int, max_loras: int) -> int:
    """GPUs saved by multi-LoRA serving against one dedicated GPU per tenant (naive bound)."""
    raise NotImplementedError("lab03_lora_economics TODO 15: gpus_saved — see labs/lab03_lora_economics/README.md")


def engines_needed_load_aware(tenants: int, max_loras: int, requests_per_s_per_tenant: float,
                              engine_requests_per_s: float) -> int:
    """Engines needed when both slots and throughput bound the fleet: the larger of

    * the slot bound, engines_needed(tenants, max_loras), and
    * the load bound, ceil(tenants * requests_per_s_per_tenant / engine_requests_per_s)
      (float noise forgiven: compute the quotient, round it to 9 decimals, then ceil).

    requests_per_s_per_tenant >= 0; engine_requests_per_s > 0 (what one engine sustains).
    """
    raise NotImplementedError("lab03_lora_economics TODO 16: engines_needed_load_aware — see labs/lab03_lora_economics/README.md")


def gpus_saved_load_aware(tenants: int, max_loras: int, requests_per_s_per_tenant: float,
                          engine_requests_per_s: float) -> int:
    """GPUs saved against dedicated serving when load counts too.

    Dedicated: each tenant gets as many GPUs as its own load needs, at least one:
    max(1, ceil(requests_per_s_per_tenant / engine_requests_per_s)) (same rounding as above).
    Shared: engines_needed_load_aware. Returns dedicated total - shared.
    """
    raise NotImplementedError("lab03_lora_economics TODO 17: gpus_saved_load_aware — see labs/lab03_lora_economics/README.md")


def peft_rank_and_targets(adapter_config: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
    """(rank, targets) from a PEFT ``adapter_config.json`` (parsed): keys ``r`` and ``target_modules``.

    targets are returned checked and in ALL_LINEAR order (``check_targets``). A non-empty
    ``rank_pattern`` (per-module ranks) is not modelled: raise ValueError naming it.
    """
    raise NotImplementedError("lab03_lora_economics TODO 18: peft_rank_and_targets — see labs/lab03_lora_economics/README.md")
