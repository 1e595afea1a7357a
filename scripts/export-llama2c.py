#!/usr/bin/env python3
"""Export a llama2.c checkpoint (.bin, "legacy" float32 format) to ONNX with a KV cache, in the
form Optimum and Transformers.js use for decoder-only models ("with past").

A development step, never run in CI. Needs PyTorch and onnx (Debian: apt-get install -y
python3-torch python3-onnx; written against PyTorch 1.13, torch.onnx.export at opset 14).

    /usr/bin/python3 scripts/export-llama2c.py ../shared/data/models/stories260K/stories260K.bin \
        examples/models/stories260K-kv.onnx

(/usr/bin/python3: Debian's interpreter, which sees the python3-torch package.) The output is
byte-identical from run to run. test/llama.test.ts checks the model against the TS forward pass
(src/bench/llama_ref.ts), run.c's tokens and the shared no-cache export.

Graph (B batch, S new tokens, P past tokens, T = P + S; P = 0 on the first step):
  inputs   input_ids                   int64   [B, S]
           attention_mask              int64   [B, T]   1 = attend, 0 = padding
           position_ids                int64   [B, S]   RoPE positions of the new tokens
           past_key_values.{i}.key     float32 [B, n_kv_heads, P, head_dim]   for each layer i
           past_key_values.{i}.value   float32 [B, n_kv_heads, P, head_dim]
  outputs  logits                      float32 [B, S, vocab]
           present.{i}.key / .value    float32 [B, n_kv_heads, T, head_dim]

The model is run.c's Llama (RMSNorm eps 1e-5, RoPE theta 10000, grouped-query attention, SwiGLU
FFN, no biases) written the way Transformers' LlamaForCausalLM is, so the exported graph has the
ops exporters emit: RoPE as q * cos + rotate_half(q) * sin (Slice/Neg/Concat) with cos/sin from
inv_freq @ position_ids; llama2.c rotates interleaved pairs (2j, 2j+1), so the rows of wq and wk
are permuted per head as Transformers' convert_llama_weights_to_hf does (pair j -> j, j + hd/2;
q.k is unchanged, and the cached keys are in the permuted basis). Attention is plain
MatMul / Div / Add(mask) / Softmax / MatMul with the key/value heads repeated
(Unsqueeze/Expand/Reshape). The mask lets query i (absolute index P + i) see key j when
j <= P + i and attention_mask[b, j] = 1 (Range, LessOrEqual/Less, Where), adding the float32
minimum elsewhere. No custom ops.
"""

import argparse
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

OPSET = 14


def read_checkpoint(path):
    """run.c's read_checkpoint / memory_map_weights."""
    with open(path, "rb") as fh:
        data = fh.read()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // n_heads
    kv_dim = dim * n_kv_heads // n_heads
    f = np.frombuffer(data, dtype="<f4", offset=28)
    o = 0

    def take(*shape):
        nonlocal o
        n = int(np.prod(shape))
        if o + n > f.size:
            sys.exit(f"{path}: file ends before the weights do")
        a = f[o : o + n].reshape(shape).astype(np.float32)
        o += n
        return a

    L = n_layers
    w = {}
    w["tok"] = take(vocab, dim)
    w["rms_att"] = take(L, dim)
    w["wq"] = take(L, dim, dim)
    w["wk"] = take(L, kv_dim, dim)
    w["wv"] = take(L, kv_dim, dim)
    w["wo"] = take(L, dim, dim)
    w["rms_ffn"] = take(L, dim)
    w["w1"] = take(L, hidden, dim)
    w["w2"] = take(L, dim, hidden)
    w["w3"] = take(L, hidden, dim)
    w["rms_final"] = take(dim)
    take(seq_len * head)  # freq_cis_real, freq_cis_imag (unused)
    w["cls"] = w["tok"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden_dim=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
               vocab_size=vocab, seq_len=seq_len, shared_classifier=shared)
    return cfg, w


def permute_rope(w, n_heads):
    """Rows of wq / wk [n_heads * hd, dim]: interleaved pairs (2j, 2j+1) -> halves (j, j + hd/2)."""
    out_dim, in_dim = w.shape
    hd = out_dim // n_heads
    return w.reshape(n_heads, hd // 2, 2, in_dim).transpose(0, 2, 1, 3).reshape(out_dim, in_dim)


class RMSNorm(nn.Module):
    def __init__(self, weight, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.from_numpy(weight.copy()))
        self.eps = eps

    def forward(self, x):
        # run.c: w * (x / sqrt(mean(x^2) + eps))
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def linear(weight):
    out_dim, in_dim = weight.shape
    m = nn.Linear(in_dim, out_dim, bias=False)
    m.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(weight)))
    return m


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(nn.Module):
    def __init__(self, cfg, w, l):
        super().__init__()
        self.n_heads = cfg["n_heads"]
        self.n_kv_heads = cfg["n_kv_heads"]
        self.head_dim = cfg["dim"] // cfg["n_heads"]
        self.input_layernorm = RMSNorm(w["rms_att"][l])
        self.q_proj = linear(permute_rope(w["wq"][l], self.n_heads))
        self.k_proj = linear(permute_rope(w["wk"][l], self.n_kv_heads))
        self.v_proj = linear(w["wv"][l])
        self.o_proj = linear(w["wo"][l])
        self.post_attention_layernorm = RMSNorm(w["rms_ffn"][l])
        self.gate_proj = linear(w["w1"][l])
        self.up_proj = linear(w["w3"][l])
        self.down_proj = linear(w["w2"][l])

    def forward(self, h, cos, sin, mask, past_k, past_v):
        B, S = h.shape[0], h.shape[1]
        x = self.input_layernorm(h)
        q = self.q_proj(x).view(B, S, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, S, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, S, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat((past_k, k), dim=2)  # [B, KVH, T, hd]
        v = torch.cat((past_v, v), dim=2)
        present_k, present_v = k, v
        rep = self.n_heads // self.n_kv_heads
        if rep > 1:  # repeat_kv: key/value head g serves query heads g * rep .. g * rep + rep - 1
            T = k.shape[2]
            k = k[:, :, None, :, :].expand(B, self.n_kv_heads, rep, T, self.head_dim).reshape(B, self.n_heads, T, self.head_dim)
            v = v[:, :, None, :, :].expand(B, self.n_kv_heads, rep, T, self.head_dim).reshape(B, self.n_heads, T, self.head_dim)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + mask
        att = torch.softmax(scores, dim=-1)
        o = torch.matmul(att, v).transpose(1, 2).reshape(B, S, self.n_heads * self.head_dim)
        h = h + self.o_proj(o)
        x = self.post_attention_layernorm(h)
        g = self.gate_proj(x)
        h = h + self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))
        return h, present_k, present_v


class Llama2c(nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        hd = cfg["dim"] // cfg["n_heads"]
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.embed_tokens.weight = nn.Parameter(torch.from_numpy(w["tok"].copy()))
        self.layers = nn.ModuleList([Layer(cfg, w, l) for l in range(cfg["n_layers"])])
        self.norm = RMSNorm(w["rms_final"])
        self.lm_head = linear(w["cls"].copy())
        # run.c: freq = 1 / 10000^(2j / hd) for pair j
        self.register_buffer("inv_freq", 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)), persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, *past):
        B, S = input_ids.shape[0], input_ids.shape[1]
        T = attention_mask.shape[1]
        h = self.embed_tokens(input_ids)
        # RoPE angles: inv_freq [hd/2] x position_ids [B, S] -> cos, sin [B, 1, S, hd]
        inv = self.inv_freq[None, :, None].expand(B, -1, 1)
        freqs = torch.matmul(inv, position_ids[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos()[:, None, :, :]
        sin = emb.sin()[:, None, :, :]
        # mask [B, 1, S, T]: query i (absolute index T - S + i) sees key j <= T - S + i with mask 1
        q_idx = torch.arange(S, dtype=torch.int64) + (T - S)
        k_idx = torch.arange(T, dtype=torch.int64)
        causal = k_idx[None, :] <= q_idx[:, None]  # [S, T]
        allowed = causal[None, None, :, :] & (attention_mask[:, None, None, :] > 0)
        zero = torch.zeros((), dtype=torch.float32)
        neg = torch.full((), torch.finfo(torch.float32).min, dtype=torch.float32)
        mask = torch.where(allowed, zero, neg)
        presents = []
        for i, layer in enumerate(self.layers):
            h, pk, pv = layer(h, cos, sin, mask, past[2 * i], past[2 * i + 1])
            presents += [pk, pv]
        logits = self.lm_head(self.norm(h))
        return (logits, *presents)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="llama2.c .bin (legacy float32 format)")
    ap.add_argument("output", help="the .onnx to write")
    args = ap.parse_args()

    cfg, w = read_checkpoint(args.checkpoint)
    model = Llama2c(cfg, w).eval()
    L, KVH, hd = cfg["n_layers"], cfg["n_kv_heads"], cfg["dim"] // cfg["n_heads"]

    # trace with B=2, S=3, P=4 so that no size is specialised to 0 or 1
    B, S, P = 2, 3, 4
    input_ids = torch.randint(3, cfg["vocab_size"], (B, S), dtype=torch.int64)
    attention_mask = torch.ones((B, P + S), dtype=torch.int64)
    position_ids = torch.arange(P, P + S, dtype=torch.int64)[None, :].expand(B, S).contiguous()
    past = [torch.randn(B, KVH, P, hd) for _ in range(2 * L)]

    input_names = ["input_ids", "attention_mask", "position_ids"]
    output_names = ["logits"]
    dynamic_axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for i in range(L):
        for kv in ("key", "value"):
            input_names.append(f"past_key_values.{i}.{kv}")
            output_names.append(f"present.{i}.{kv}")
            dynamic_axes[f"past_key_values.{i}.{kv}"] = {0: "batch_size", 2: "past_sequence_length"}
            dynamic_axes[f"present.{i}.{kv}"] = {0: "batch_size", 2: "total_sequence_length"}

    with torch.no_grad():
        torch.onnx.export(
            model,
            (input_ids, attention_mask, position_ids, *past),
            args.output,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )

    import onnx

    m = onnx.load(args.output)
    meta = {
        "source": "llama2.c checkpoint " + args.checkpoint.split("/")[-1] + " via scripts/export-llama2c.py",
        "model_type": "llama",
        "bos_token_id": "1",
        "eos_token_id": "2",
        "rope": "q/k rows permuted per head (llama2.c interleaved pairs -> rotate_half halves)",
    }
    for k, v in cfg.items():
        meta["llama2c." + k] = str(v)
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    onnx.save(m, args.output)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"{args.output}: {len(m.graph.node)} nodes; {dict(sorted(ops.items()))}")
    print("config:", cfg)


if __name__ == "__main__":
    main()
