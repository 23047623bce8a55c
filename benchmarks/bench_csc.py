"""Convolutional sparse coding and dictionary learning: sparsecode vs SPORCO, same run.

1. ``ConvBPDN`` — SPORCO's own example (``examples/scripts/csc/cbpdn_gry.py``): the
   256x256 crop of ``kodim23.png`` (shipped with SPORCO), high-pass filtered by SPORCO's
   ``signal.tikhonov_filter(img, 10, 16)``, the 36 learned 12x12 filters
   ``util.convdicts()['G:12x12x36']`` (shipped with SPORCO), lambda = 0.05,
   ``MaxMainIter=200, RelStopTol=5e-3, AuxVarObj=False`` and SPORCO's default
   ``AutoRho`` (residual balancing), over-relaxation 1.8, pyFFTW. Ours:
   ``cbpdn(..., method="admm", max_iter=200, tol=5e-3)``, the same algorithm and stopping
   rule, so both stop at the same iteration; the objective of the returned sparse maps is
   evaluated by one function for both.
2. ``ConvBPDNDictLearn`` — SPORCO's example ``cbpdndl_cns_gry.py``: five 128x128 images
   (barbara, kodim23, monarch, sail, tulips at zoom 0.25), high-pass filtered, 64 random
   8x8 initial filters (seed 12345), lambda = 0.2, ``CBPDN rho = 50 lambda + 0.5``,
   ``CCMOD rho = 10, ZeroMean``; SPORCO's consensus (``dmethod="cns"``) and its default
   (``dmethod="pgm"``) dictionary updates. Ours: ``conv_dict_learning`` with the same
   initial filters and iteration count, ``zero_mean=True``. Objective: the CDL objective
   of the returned filters and sparse maps.

SPORCO runs at float32 (its example images' dtype), as does ours. SPORCO uses numexpr
when it is installed; that is slower on this machine (see ``--sporco-numexpr``), so the
default times SPORCO without it (``sporco.linalg.have_numexpr = False``) and, for
``ConvBPDN``, with it too, and compares with SPORCO's faster configuration. Timings are
medians of interleaved rounds.

Run: ``python benchmarks/bench_csc.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, write_result

from sparsecode.convolutional import cbpdn, cbpdn_objective, conv_dict_learning


def _sporco():
    import pyfftw  # SPORCO's examples import it first
    import sporco
    import sporco.linalg
    from sporco import signal, util

    # keep SPORCO's FFTW plans for the whole run (its default keep-alive is 300 s, shorter
    # than a round here): planning is then paid once, in the warm-up, as our JIT is
    pyfftw.interfaces.cache.set_keepalive_time(7200)
    return sporco, sporco.linalg, signal, util


def cbpdn_problem():
    _, _, signal, util = _sporco()
    img = util.ExampleImages().image("kodim23.png", scaled=True, gray=True,
                                     idxexp=np.s_[160:416, 60:316])
    _, sh = signal.tikhonov_filter(img, 10, 16)
    D = util.convdicts()["G:12x12x36"]
    return np.ascontiguousarray(sh), np.ascontiguousarray(D)


def cdl_problem():
    _, _, signal, util = _sporco()
    exim = util.ExampleImages(scaled=True, zoom=0.25, gray=True)
    S = np.dstack([
        exim.image("barbara.png", idxexp=np.s_[10:522, 100:612]),
        exim.image("kodim23.png", idxexp=np.s_[:, 60:572]),
        exim.image("monarch.png", idxexp=np.s_[:, 160:672]),
        exim.image("sail.png", idxexp=np.s_[:, 210:722]),
        exim.image("tulips.png", idxexp=np.s_[:, 30:542]),
    ])
    _, sh = signal.tikhonov_filter(S, 5, 16)
    D0 = np.random.RandomState(12345).randn(8, 8, 64).astype(np.float32)
    return np.ascontiguousarray(sh), D0


def run_sporco_cbpdn(sh, D, lmbda, max_iter, numexpr):
    _, linalg, _, _ = _sporco()
    from sporco.admm import cbpdn as scb

    linalg.have_numexpr = numexpr
    opt = scb.ConvBPDN.Options({"Verbose": False, "MaxMainIter": max_iter,
                                "RelStopTol": 5e-3, "AuxVarObj": False})
    t0 = time.perf_counter()
    b = scb.ConvBPDN(D, sh, lmbda, opt, dimK=0)
    X = b.solve()
    t = time.perf_counter() - t0
    Z = np.moveaxis(X[:, :, 0, 0, :], 2, 0)
    return t, Z, len(b.getitstat().ObjFun)


def run_ours_cbpdn(sh, Dm, lmbda, max_iter, method="admm", tol=5e-3):
    t0 = time.perf_counter()
    Z, info = cbpdn(sh, Dm, lmbda, method=method, max_iter=max_iter, tol=tol,
                    return_info=True)
    return time.perf_counter() - t0, Z, info.n_iter


def run_sporco_cdl(sh, D0, lmbda, max_iter, dmethod, numexpr):
    _, linalg, _, _ = _sporco()
    from sporco.dictlrn import cbpdndl

    linalg.have_numexpr = numexpr
    o = {"Verbose": False, "MaxMainIter": max_iter, "CBPDN": {"rho": 50.0 * lmbda + 0.5},
         "CCMOD": {"ZeroMean": True}}
    if dmethod == "cns":
        o["CCMOD"]["rho"] = 10.0
    opt = cbpdndl.ConvBPDNDictLearn.Options(o, dmethod=dmethod)
    t0 = time.perf_counter()
    d = cbpdndl.ConvBPDNDictLearn(D0, sh, lmbda, opt, dmethod=dmethod)
    D1 = d.solve()
    t = time.perf_counter() - t0
    G = np.ascontiguousarray(np.moveaxis(D1.squeeze(), 2, 0))
    Z = np.ascontiguousarray(np.moveaxis(d.getcoef()[:, :, 0, :, :], (2, 3), (0, 1)))
    return t, G, Z


def run_ours_cdl(X, D0m, lmbda, max_iter):
    t0 = time.perf_counter()
    G, Z = conv_dict_learning(X, D0m.shape[0], D0m.shape[1:], lmbda, max_iter=max_iter,
                              init=D0m, zero_mean=True)
    return time.perf_counter() - t0, G, Z


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (ConvBPDN)")
    ap.add_argument("--cdl-rounds", type=int, default=3)
    ap.add_argument("--cdl-iter", type=int, default=50,
                    help="dictionary-learning iterations (SPORCO's example: 200)")
    ap.add_argument("--sporco-numexpr", action="store_true",
                    help="also time SPORCO's dictionary learning with numexpr")
    args = ap.parse_args()
    rounds, cdl_rounds, cdl_iter = args.rounds, args.cdl_rounds, args.cdl_iter
    if args.quick:
        rounds, cdl_rounds, cdl_iter = 1, 1, 5
    sporco, _, _, _ = _sporco()

    lines = header("Convolutional sparse coding and dictionary learning vs SPORCO")
    lines += [f"- SPORCO {sporco.__version__} (pyFFTW), float32; the machine is shared with "
              "other engineers' jobs and was loaded during this run (load average above), "
              "so absolute times are inflated; ratios are of medians of interleaved rounds.",
              ""]

    # ----------------------------------------------------------------- ConvBPDN
    sh, D = cbpdn_problem()
    Dm = np.ascontiguousarray(np.moveaxis(D, 2, 0))
    lmbda = 0.05
    # warm-up: our kernels compile, SPORCO's FFTW plans are made (FFTW_MEASURE)
    run_ours_cbpdn(sh, Dm, lmbda, 3)
    run_sporco_cbpdn(sh, D, lmbda, 3, numexpr=False)
    run_sporco_cbpdn(sh, D, lmbda, 3, numexpr=True)
    times = {"sporco": [], "sporco+numexpr": [], "ours": [], "ours-fista": []}
    res = {}
    for r in range(rounds):
        for name in times:
            if name == "sporco":
                t, Z, it = run_sporco_cbpdn(sh, D, lmbda, 200, numexpr=False)
            elif name == "sporco+numexpr":
                t, Z, it = run_sporco_cbpdn(sh, D, lmbda, 200, numexpr=True)
            elif name == "ours":
                t, Z, it = run_ours_cbpdn(sh, Dm, lmbda, 200)
            else:
                t, Z, it = run_ours_cbpdn(sh, Dm, lmbda, 200, method="fista", tol=0.0)
            times[name].append(t)
            res[name] = (cbpdn_objective(sh, Z, Dm, lmbda), it)
            print(f"cbpdn round {r} {name}: {t:.2f} s, obj {res[name][0]:.5f}, "
                  f"{it} it", flush=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    best_sporco = min(("sporco", "sporco+numexpr"), key=med.get)
    rows = []
    target = res[best_sporco][0]
    for name, label in [("sporco", "SPORCO ConvBPDN"),
                        ("sporco+numexpr", "SPORCO ConvBPDN + numexpr"),
                        ("ours", "sparsecode cbpdn (ADMM)"),
                        ("ours-fista", "sparsecode cbpdn (FISTA, 200 it)")]:
        same = res[name][0] <= target * (1 + 1e-5)
        rows.append([label, res[name][1], f"{res[name][0]:.5f}", f"{med[name]:.2f}",
                     f"{med[best_sporco] / med[name]:.2f}x" if same else
                     "n/a (higher objective)"])
    lines += ["## ConvBPDN: 256x256 image, 36 filters 12x12, lambda = 0.05", "",
              f"Rounds: {rounds}. Speed-up relative to SPORCO's faster configuration "
              f"(`{best_sporco}`).", ""]
    lines += markdown_table(["solver", "iterations", "objective", "median s", "speed-up"],
                            rows)
    lines += [""]

    # ---------------------------------------------------------- ConvBPDNDictLearn
    sh5, D0 = cdl_problem()
    X5 = np.ascontiguousarray(np.moveaxis(sh5, 2, 0))
    D0m = np.ascontiguousarray(np.moveaxis(D0, 2, 0))
    lmbda = 0.2
    names = ["sporco-cns", "sporco-pgm", "ours"]
    if args.sporco_numexpr:
        names += ["sporco-cns+numexpr"]
    run_ours_cdl(X5, D0m, lmbda, 2)
    for name in names[:2] + names[3:]:
        run_sporco_cdl(sh5, D0, lmbda, 2, name.split("-")[1].split("+")[0],
                       numexpr=name.endswith("numexpr"))
    times = {k: [] for k in names}
    res = {}
    for r in range(cdl_rounds):
        for name in names:
            if name == "ours":
                t, G, Z = run_ours_cdl(X5, D0m, lmbda, cdl_iter)
            else:
                dm = name.split("-")[1].split("+")[0]
                t, G, Z = run_sporco_cdl(sh5, D0, lmbda, cdl_iter, dm,
                                         numexpr=name.endswith("numexpr"))
            times[name].append(t)
            res[name] = float(cbpdn_objective(X5, Z, G, lmbda).sum())
            print(f"cdl round {r} {name}: {t:.2f} s, obj {res[name]:.4f}", flush=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    sporco_names = [k for k in names if k != "ours"]
    best_sporco = min(sporco_names, key=med.get)
    labels = {"sporco-cns": "SPORCO ConvBPDNDictLearn (dmethod='cns')",
              "sporco-pgm": "SPORCO ConvBPDNDictLearn (dmethod='pgm', default)",
              "sporco-cns+numexpr": "SPORCO ConvBPDNDictLearn (cns) + numexpr",
              "ours": "sparsecode conv_dict_learning (consensus ADMM)"}
    rows = [[labels[k], cdl_iter, f"{res[k]:.4f}", f"{med[k]:.2f}",
             f"{med[best_sporco] / med[k]:.2f}x"] for k in names]
    lines += ["## ConvBPDNDictLearn: 5 images 128x128, 64 filters 8x8, lambda = 0.2", "",
              f"Rounds: {cdl_rounds}; {cdl_iter} iterations each (SPORCO's example runs "
              f"200). Speed-up relative to SPORCO's faster configuration (`{best_sporco}`). "
              "Objective: the CDL objective of the returned filters and sparse maps "
              "(summed over the images), evaluated by the same function for all.", ""]
    lines += markdown_table(["solver", "iterations", "objective", "median s", "speed-up"],
                            rows)
    write_result("csc.md", lines)


if __name__ == "__main__":
    main()
