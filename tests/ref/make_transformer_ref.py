#!/usr/bin/python3
"""Reference values for tests/test_transformer.c, computed with PyTorch.

Writes tests/ref/tf_<name>.safetensors for three small random transformers:
  attn    attention-only, 2 layers, LayerNorm                          (T < n_ctx)
  full    2 layers, LayerNorm, GELU (gelu_new) MLP                     (T = n_ctx)
  norelu  2 layers, no normalization, ReLU MLP

TransformerLens' HookedTransformer maths is written out here in plain torch (TransformerLens
itself is not used), in float64, from float32 weights. Each file holds:
  <TL parameter name>          the weights (F32), e.g. "blocks.0.attn.W_Q" [H, D, dh]
  tokens, targets              I32 [B, T]; a target of -1 is ignored by the loss
  logits                       F32 [B, T, V]
  loss                         F64 [1], mean cross-entropy over the counted targets
  grad.<parameter name>        F32, d(loss)/d(parameter)
  act.<hook name>              F32, a few hook activations
  actgrad.<hook name>          F32, d(loss)/d(activation) at a few hook points
and the config in __metadata__ (TL field names, strings).

The safetensors file is written here by hand (8-byte little-endian header length, JSON header
padded with spaces to a multiple of 8, raw little-endian data), so the C reader is tested
against the format, not against itself.

Run from the repository root:  /usr/bin/python3 tests/ref/make_transformer_ref.py
"""
import json
import math
import os
import struct

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

MODELS = {
    "attn": dict(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=0, attn_only=True,
                 n_ctx=16, d_vocab=24, act_fn="relu", normalization_type="LN", B=3, T=13,
                 seed=1),
    "full": dict(n_layers=2, d_model=24, n_heads=3, d_head=8, d_mlp=64, attn_only=False,
                 n_ctx=12, d_vocab=20, act_fn="gelu_new", normalization_type="LN", B=3, T=12,
                 seed=2),
    "norelu": dict(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, attn_only=False,
                   n_ctx=10, d_vocab=16, act_fn="relu", normalization_type="none", B=2, T=9,
                   seed=3, wscale=0.5),
}
EPS = 1e-5


def param_shapes(c):
    """TL parameter names and shapes, in TL's state_dict order."""
    D, H, dh, M, V = c["d_model"], c["n_heads"], c["d_head"], c["d_mlp"], c["d_vocab"]
    ln = c["normalization_type"] == "LN"
    out = [("embed.W_E", (V, D)), ("pos_embed.W_pos", (c["n_ctx"], D))]
    for l in range(c["n_layers"]):
        p = f"blocks.{l}."
        if ln:
            out += [(p + "ln1.w", (D,)), (p + "ln1.b", (D,))]
            if not c["attn_only"]:
                out += [(p + "ln2.w", (D,)), (p + "ln2.b", (D,))]
        out += [(p + "attn.W_Q", (H, D, dh)), (p + "attn.W_K", (H, D, dh)),
                (p + "attn.W_V", (H, D, dh)), (p + "attn.W_O", (H, dh, D)),
                (p + "attn.b_Q", (H, dh)), (p + "attn.b_K", (H, dh)),
                (p + "attn.b_V", (H, dh)), (p + "attn.b_O", (D,))]
        if not c["attn_only"]:
            out += [(p + "mlp.W_in", (D, M)), (p + "mlp.b_in", (M,)),
                    (p + "mlp.W_out", (M, D)), (p + "mlp.b_out", (D,))]
    if ln:
        out += [("ln_final.w", (D,)), ("ln_final.b", (D,))]
    out += [("unembed.W_U", (D, V)), ("unembed.b_U", (V,))]
    return out


def random_params(c, rng):
    """Random float32 weights: matrices ~ N(0, (1.5/sqrt(fan-in))²) so attention is not uniform
    (times wscale: without LayerNorm the residual stream grows, and float32 logits must stay
    small enough for a 1e-5 comparison), non-zero biases and LayerNorm gains/shifts so every
    gradient path is exercised."""
    params = {}
    for name, shape in param_shapes(c):
        if name.endswith(".w"):
            v = 1.0 + 0.2 * rng.standard_normal(shape)
        elif ".W_" in name:
            fan_in = {"W_E": 1, "W_pos": 1}.get(name.split(".")[-1], shape[-2])
            std = (1.0 if fan_in == 1 else 1.5 / math.sqrt(fan_in)) * c.get("wscale", 1.0)
            v = std * rng.standard_normal(shape)
        else:
            v = 0.2 * rng.standard_normal(shape)
        params[name] = torch.tensor(v.astype(np.float32), dtype=torch.float64, requires_grad=True)
    return params


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layernorm(x, w, b):
    """TL's LayerNorm: eps inside the sqrt; hook_scale is [.., 1], hook_normalized after w, b."""
    x = x - x.mean(-1, keepdim=True)
    scale = (x.pow(2).mean(-1, keepdim=True) + EPS).sqrt()
    return x / scale * w + b, scale


def forward(c, P, tokens):
    """HookedTransformer.forward, written out. Returns logits and a dict of hook activations."""
    acts = {}
    B, T = tokens.shape
    dh = c["d_head"]
    ln = c["normalization_type"] == "LN"

    def hook(name, x):
        x.retain_grad()
        acts[name] = x
        return x

    embed = hook("hook_embed", P["embed.W_E"][tokens])
    pos = hook("hook_pos_embed", P["pos_embed.W_pos"][:T].unsqueeze(0).expand(B, T, -1))
    resid = embed + pos
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(c["n_layers"]):
        p = f"blocks.{l}."
        resid = hook(p + "hook_resid_pre", resid)
        a = resid
        if ln:
            a, scale = layernorm(resid, P[p + "ln1.w"], P[p + "ln1.b"])
            hook(p + "ln1.hook_scale", scale)
            a = hook(p + "ln1.hook_normalized", a)
        q = hook(p + "attn.hook_q", torch.einsum("btd,hde->bthe", a, P[p + "attn.W_Q"])
                 + P[p + "attn.b_Q"])
        k = hook(p + "attn.hook_k", torch.einsum("btd,hde->bthe", a, P[p + "attn.W_K"])
                 + P[p + "attn.b_K"])
        v = hook(p + "attn.hook_v", torch.einsum("btd,hde->bthe", a, P[p + "attn.W_V"])
                 + P[p + "attn.b_V"])
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(dh)
        scores = hook(p + "attn.hook_attn_scores", scores.masked_fill(mask, float("-inf")))
        pattern = hook(p + "attn.hook_pattern", torch.softmax(scores, dim=-1))
        z = hook(p + "attn.hook_z", torch.einsum("bhqk,bkhe->bqhe", pattern, v))
        result = torch.einsum("bqhe,hed->bqhd", z, P[p + "attn.W_O"])
        acts[p + "attn.hook_result"] = result.detach()  # forward value only
        attn_out = hook(p + "hook_attn_out",
                        torch.einsum("bqhe,hed->bqd", z, P[p + "attn.W_O"]) + P[p + "attn.b_O"])
        if c["attn_only"]:
            resid = resid + attn_out
        else:
            mid = hook(p + "hook_resid_mid", resid + attn_out)
            a2 = mid
            if ln:
                a2, scale2 = layernorm(mid, P[p + "ln2.w"], P[p + "ln2.b"])
                hook(p + "ln2.hook_scale", scale2)
                a2 = hook(p + "ln2.hook_normalized", a2)
            pre = hook(p + "mlp.hook_pre", a2 @ P[p + "mlp.W_in"] + P[p + "mlp.b_in"])
            post = hook(p + "mlp.hook_post",
                        gelu_new(pre) if c["act_fn"] == "gelu_new" else torch.relu(pre))
            mlp_out = hook(p + "hook_mlp_out", post @ P[p + "mlp.W_out"] + P[p + "mlp.b_out"])
            resid = mid + mlp_out
        resid = hook(p + "hook_resid_post", resid)
    x = resid
    if ln:
        x, scalef = layernorm(resid, P["ln_final.w"], P["ln_final.b"])
        hook("ln_final.hook_scale", scalef)
        x = hook("ln_final.hook_normalized", x)
    logits = x @ P["unembed.W_U"] + P["unembed.b_U"]
    return logits, acts


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, numpy array); dtypes F32 / F64 / I32, little-endian."""
    codes = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i4"): "I32"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr)
        arr = arr.astype(arr.dtype.newbyteorder("<"))
        raw = arr.tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def make(name, c, outdir):
    rng = np.random.default_rng(c["seed"])
    P = random_params(c, rng)
    B, T, V = c["B"], c["T"], c["d_vocab"]
    tokens = rng.integers(0, V, size=(B, T)).astype(np.int32)
    targets = np.full((B, T), -1, dtype=np.int32)
    targets[:, :-1] = tokens[:, 1:]           # next-token prediction; last position ignored
    targets[0, 2] = -1                        # and two more ignored positions
    targets[B - 1, 0] = -1
    targets[:, -1] = rng.integers(0, V, size=B)  # ... except the last position gets a target
    targets[1, -1] = -1

    logits, acts = forward(c, P, torch.tensor(tokens, dtype=torch.long))
    tt = torch.tensor(targets, dtype=torch.long)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), tt.reshape(-1),
                                             ignore_index=-1)
    loss.backward()

    f32 = lambda t: t.detach().numpy().astype(np.float32)
    out = [(n, f32(P[n])) for n, _ in param_shapes(c)]
    out += [("tokens", tokens), ("targets", targets), ("logits", f32(logits)),
            ("loss", np.array([loss.item()], dtype=np.float64))]
    out += [("grad." + n, f32(P[n].grad)) for n, _ in param_shapes(c)]
    L = c["n_layers"] - 1
    want = ["blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", f"blocks.{L}.hook_resid_post",
            "blocks.0.hook_resid_pre"]
    if c["normalization_type"] == "LN":
        want += ["blocks.0.ln1.hook_scale", "ln_final.hook_normalized"]
    if not c["attn_only"]:
        want += [f"blocks.{L}.mlp.hook_post", "blocks.0.hook_resid_mid"]
    else:
        want += ["blocks.1.attn.hook_result"]
    out += [("act." + n, f32(acts[n])) for n in want]
    gwant = ["blocks.0.hook_resid_pre", f"blocks.{L}.attn.hook_pattern", "blocks.0.attn.hook_v",
             "blocks.1.hook_attn_out", "hook_pos_embed"]
    if c["normalization_type"] == "LN":
        gwant += ["blocks.0.ln1.hook_scale", "ln_final.hook_normalized"]
    if not c["attn_only"]:
        gwant += ["blocks.0.mlp.hook_pre", "blocks.1.hook_resid_mid"]
    for n in gwant:
        g = acts[n].grad.clone()
        if n.endswith("hook_pattern"):
            # Pattern entries above the diagonal do not enter z in mechlab (the causal op only
            # reads s <= t), so their gradient is 0 there; torch's dense einsum reports dz·v.
            g.masked_fill_(torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1), 0.0)
        out.append(("actgrad." + n, f32(g)))

    meta = {k: str(c[k]) for k in ["n_layers", "d_model", "n_heads", "d_head", "d_mlp", "n_ctx",
                                    "d_vocab", "act_fn", "normalization_type", "B", "T"]}
    meta["attn_only"] = "true" if c["attn_only"] else "false"
    meta["eps"] = repr(EPS)
    meta["positional_embedding_type"] = "standard"
    meta["loss"] = repr(loss.item())
    path = os.path.join(outdir, f"tf_{name}.safetensors")
    write_safetensors(path, out, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, loss {loss.item():.6f}, "
          f"|logits| max {logits.abs().max().item():.3f}")


def main():
    outdir = os.path.dirname(os.path.abspath(__file__))
    for name, c in MODELS.items():
        make(name, c, outdir)


if __name__ == "__main__":
    main()
