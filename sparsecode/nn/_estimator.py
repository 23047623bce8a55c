"""A thin scikit-learn estimator base for torch models.

Every torch model of the library (sparse autoencoders, LISTA and the other unrolled
networks) is exposed as a scikit-learn estimator built on :class:`TorchEstimatorMixin`.
The mixin gives the torch plumbing, the subclass keeps the scikit-learn contract
(constructor stores parameters only, ``_parameter_constraints``, ``fit`` returns
``self``, fitted state ends in ``_``).

What the mixin provides
-----------------------
``module_``
    The trained ``nn.Module``, set by the subclass's ``fit`` through
    :meth:`_init_module` (which records how to rebuild it).
Devices
    The ``device`` parameter: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, ``"mps"`` or
    ``"auto"`` (CUDA when available). Asking for an unavailable device raises a
    ``ValueError``. :meth:`_resolve_device` returns the ``torch.device``.
Reproducibility
    ``random_state`` (int, None or ``RandomState``) is turned into one integer seed per
    ``fit`` (:meth:`_torch_seed`); :meth:`_seeded` is a context manager that forks the
    global torch RNG (CPU and the CUDA device in use), seeds it, and restores it on exit
    so training is reproducible without touching the caller's RNG state;
    :meth:`_generator` gives a seeded CPU ``torch.Generator`` for shuffling.
NumPy in/out
    :meth:`_to_tensor` (NumPy -> tensor on the device, in the dtype of ``module_``),
    :meth:`_to_numpy` (tensor -> NumPy in the requested dtype), :meth:`_batched`
    (apply a function to a large array in chunks under ``no_grad``). float32 inputs give
    float32 outputs, float64 inputs float64 (the module is trained in the dtype of
    ``X`` given to ``fit``).
Progress
    ``verbose`` > 0 shows a tqdm bar (the training loop of :mod:`._training` uses it).
Pickling
    ``pickle``/``joblib`` store ``module_`` as its ``state_dict`` on the CPU plus the
    arguments of :meth:`_build_module`; unpickling rebuilds the module and moves it to
    ``device`` when that device exists (otherwise to the CPU, with a warning). So a
    model trained on a GPU loads on a CPU-only machine.

Writing an estimator on top of it
---------------------------------
::

    class MyNet(TorchEstimatorMixin, BaseSparseEstimator):
        def __init__(self, n_components=10, *, device="cpu", random_state=None,
                     verbose=0):
            ...  # store parameters only

        def _build_module(self, n_features, n_components):   # keyword arguments only
            return nn.Linear(n_features, n_components)       # JSON-like args

        def fit(self, X, y=None):
            X = self._validate_X(X, reset=True)
            with self._seeded():
                self._init_module(n_features=X.shape[1], n_components=self.n_components,
                                  dtype=X.dtype)
                ...  # train with sparsecode.nn._training.Trainer
            return self

``_init_module(dtype=..., **kwargs)`` calls ``_build_module(**kwargs)``, moves the result to
the device and dtype, stores it as ``module_`` and remembers ``kwargs`` in
``_module_kwargs_`` for unpickling.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["TorchEstimatorMixin", "resolve_device", "torch_dtype"]

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_dtype(np_dtype):
    """The torch dtype for a NumPy float dtype (float32 -> float32, else float64)."""
    return _TORCH_DTYPES.get(np.dtype(np_dtype), torch.float64)


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``, with clear errors.

    ``None`` and ``"cpu"`` give the CPU; ``"auto"`` CUDA when available, else CPU;
    ``"cuda"``/``"cuda:i"``/``"mps"`` must be available.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'cpu', 'cuda', 'cuda:<index>', 'mps' or 'auto', got {device!r}."
        ) from exc
    if dev.type == "cuda" and dev.index is None and "LOCAL_RANK" in os.environ:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # one GPU per rank
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available; "
                "use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s)."
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={device!r} was requested but MPS is not available.")
    elif dev.type != "cpu":
        raise ValueError(
            f"device must be 'cpu', 'cuda', 'cuda:<index>', 'mps' or 'auto', got {device!r}."
        )
    return dev


class TorchEstimatorMixin:
    """Torch plumbing for scikit-learn estimators; see the module docstring.

    Expects the parameters ``device``, ``random_state`` and ``verbose`` on the
    subclass, and the method ``_build_module(**kwargs) -> nn.Module``.
    """

    # ---------------------------------------------------------------- device / seeds
    def _resolve_device(self):
        return resolve_device(getattr(self, "device", "cpu"))

    def _torch_seed(self):
        """One integer seed from ``random_state`` (drawn once per call).

        In a distributed run (``distributed`` not False and a process group of several
        ranks, initialised here when launched by ``torchrun``), rank 0's seed is
        broadcast, so that every rank initialises, splits and shuffles alike even with
        ``random_state=None``.
        """
        rs = check_random_state(getattr(self, "random_state", None))
        seed = int(rs.randint(0, 2**31 - 1))
        distributed = getattr(self, "distributed", False)
        if distributed is not False:
            from ._distributed import resolve_distributed

            ctx = resolve_distributed(distributed, self._resolve_device())
            if ctx is not None:
                seed = int(ctx.broadcast_object(seed))
        return seed

    @contextlib.contextmanager
    def _seeded(self, seed=None):
        """Fork and seed the global torch RNG for the duration of the block.

        Sets ``self._seed_`` (the seed used) so :meth:`_generator` can derive the
        shuffling generator from the same draw.
        """
        if seed is None:
            seed = self._torch_seed()
        self._seed_ = int(seed)
        dev = self._resolve_device()
        cuda_devices = []
        if dev.type == "cuda":
            cuda_devices = [dev.index if dev.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(self._seed_)
            yield self._seed_

    def _generator(self, offset=1):
        """A CPU ``torch.Generator`` seeded from the current ``_seed_`` (+ ``offset``)."""
        g = torch.Generator()
        g.manual_seed(int(getattr(self, "_seed_", 0)) + offset)
        return g

    # ---------------------------------------------------------------- module
    def _build_module(self, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_module(self, *, dtype=np.float64, **kwargs):
        """Build the module, move it to the device and dtype, store it in ``module_``."""
        module = self._build_module(**kwargs)
        module = module.to(device=self._resolve_device(), dtype=torch_dtype(dtype))
        self.module_ = module
        self._module_kwargs_ = dict(kwargs)
        self._module_dtype_ = np.dtype(dtype).name
        return module

    @property
    def _module_device(self):
        for t in self.module_.parameters():
            return t.device
        for t in self.module_.buffers():
            return t.device
        return torch.device("cpu")

    @property
    def _module_torch_dtype(self):
        for t in self.module_.parameters():
            return t.dtype
        return torch.float64

    # ---------------------------------------------------------------- numpy <-> torch
    def _to_tensor(self, X, dtype=None):
        """NumPy -> tensor on the module's device, in the module's dtype (or ``dtype``)."""
        dtype = dtype or self._module_torch_dtype
        X = np.asarray(X)
        if not X.flags.writeable:  # torch warns on read-only buffers (memmaps)
            X = X.copy()
        return torch.as_tensor(X, device=self._module_device).to(dtype)

    @staticmethod
    def _to_numpy(t, dtype=None):
        """Tensor -> NumPy (on the CPU), cast to ``dtype`` when given."""
        a = t.detach().cpu().numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def _batched(self, fn, X, *, batch_size=4096, out_dtype=None):
        """Apply ``fn(tensor) -> tensor`` to ``X`` in chunks (``no_grad``, eval mode),
        concatenate, and return NumPy in ``out_dtype`` (default the dtype of ``X``)."""
        out_dtype = out_dtype or np.asarray(X).dtype
        module = self.module_
        was = module.training
        module.eval()
        outs = []
        try:
            with torch.no_grad():
                for start in range(0, X.shape[0], batch_size):
                    xb = self._to_tensor(X[start:start + batch_size])
                    outs.append(self._to_numpy(fn(xb), out_dtype))
        finally:
            module.train(was)
        return np.concatenate(outs, axis=0)

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(
            self.__dict__)
        state = dict(state)
        module = state.pop("module_", None)
        if module is not None:
            state["_module_state_dict_"] = {
                k: v.detach().cpu() for k, v in module.state_dict().items()
            }
        return state

    def __setstate__(self, state):
        state = dict(state)
        sd = state.pop("_module_state_dict_", None)
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:  # pragma: no cover
            self.__dict__.update(state)
        if sd is not None:
            dtype = torch_dtype(getattr(self, "_module_dtype_", "float64"))
            module = self._build_module(**self._module_kwargs_).to(dtype=dtype)
            # rebuild the pruning re-parametrisation if the module was pruned
            _restore_prune_masks(module, sd)
            module.load_state_dict(sd)
            try:
                dev = self._resolve_device()
            except ValueError:
                warnings.warn(
                    f"device={self.device!r} is not available here; the model was "
                    "loaded on the CPU.", UserWarning, stacklevel=2,
                )
                dev = torch.device("cpu")
            self.module_ = module.to(device=dev, dtype=dtype)


def _restore_prune_masks(module, state_dict):
    """Re-register ``torch.nn.utils.prune`` masks found in a state dict."""
    from torch.nn.utils import prune

    for key in state_dict:
        if key.endswith("_mask"):
            path, _, pname = key[: -len("_mask")].rpartition(".")
            sub = module.get_submodule(path) if path else module
            if hasattr(sub, pname) and not hasattr(sub, pname + "_orig"):
                prune.identity(sub, pname)
