#!/usr/bin/python3
"""Reference values for tests/test_optim.c, from torch.optim (run once; output pasted into the test).

Five parameters, three steps with fixed gradients and a different learning rate at each step
(the schedule hands optim_step one lr per step). For every optimiser config the parameters after
each step are printed, and for Adam/AdamW the moments after the last step, as C initialisers.
"""
import torch

torch.set_printoptions(precision=10)
P0 = [0.5, -1.2, 2.0, 0.0, -0.3]
GRADS = [
    [0.3, -0.7, 1.5, 0.0, 2.0],
    [-0.1, -0.4, 0.9, 0.25, -1.0],
    [0.05, 0.6, -2.0, 0.5, 0.0],
]
LRS = [0.1, 0.05, 0.02]

CONFIGS = {
    "sgd": (torch.optim.SGD, dict(lr=1.0)),
    "sgd_momentum_wd": (torch.optim.SGD, dict(lr=1.0, momentum=0.9, weight_decay=0.1)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=1.0, momentum=0.8, nesterov=True)),
    "adam": (torch.optim.Adam, dict(lr=1.0)),
    "adam_l2": (torch.optim.Adam, dict(lr=1.0, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "adamw": (torch.optim.AdamW, dict(lr=1.0, weight_decay=0.1)),
    "adamw_default": (torch.optim.AdamW, dict(lr=1.0)),
}


def fmt(xs):
    return "{" + ", ".join("%.9ef" % float(x) for x in xs) + "}"


for name, (cls, kw) in CONFIGS.items():
    p = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float32))
    opt = cls([p], **kw)
    print("// %s: %s(%s)" % (name, cls.__name__, kw))
    print("static const float ref_%s_p[3][5] = {" % name)
    for g, lr in zip(GRADS, LRS):
        for grp in opt.param_groups:
            grp["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        print("    %s," % fmt(p.detach()))
    print("};")
    st = opt.state[p]
    if "exp_avg" in st:
        print("static const float ref_%s_m[5] = %s;" % (name, fmt(st["exp_avg"])))
        print("static const float ref_%s_v[5] = %s;" % (name, fmt(st["exp_avg_sq"])))
    if st.get("momentum_buffer") is not None:
        print("static const float ref_%s_buf[5] = %s;" % (name, fmt(st["momentum_buffer"])))
    print()

# Gradient clipping: torch's clip_grad_norm_ returns the pre-clip norm.
g = torch.tensor([3.0, -4.0, 12.0, 0.0, 1e-3], dtype=torch.float64)
print("// clip_grad_norm_ pre-clip norm of {3, -4, 12, 0, 1e-3}: %.17g" % g.norm().item())
