r"""The scikit-learn face of the CS networks: :class:`CSNetwork`.

Blocks and measurements are in rows: ``X (n_blocks, block_size**2)`` (blocks flattened
row-major), measurements ``Y (n_blocks, n_measurements)`` with ``Y = X @ phi_.T``; a
whole image is measured block by block in the layout of
:class:`sparsecode.operators.BlockCSOperator` (:meth:`CSNetwork.sensing_operator`).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ...operators import BlockCSOperator, MatrixOperator
from ...operators._image import check_ratio, n_measurements_for
from .._estimator import TorchEstimatorMixin, torch_dtype
from .data import extract_blocks, least_squares_init, sensing_matrix
from .models import CS_MODELS, make_cs_model
from .training import SCHEDULES, make_trainer

__all__ = ["CSNetwork"]


class CSNetwork(TorchEstimatorMixin, BaseEstimator):
    r"""Learned block compressed-sensing recovery (ReconNet, ISTA-Net(+), OPINE-Net+).

    Trains a network of :data:`sparsecode.nn.cs.CS_MODELS` to reconstruct
    ``block_size x block_size`` blocks :math:`x` from :math:`y = \Phi x`, and whole
    images block by block.

    Parameters
    ----------
    model : {"reconnet", "ista-net", "ista-net+", "opine-net+"}, default="ista-net+"
    ratio : float in (0, 1], default=0.25
        CS ratio: ``round(ratio * block_size**2)`` measurements per block.
    block_size : int, default=33
    n_phases : int, default=9
        Unrolled phases (ISTA-Net, ISTA-Net+, OPINE-Net+).
    n_channels : int, default=32
        Feature channels (ReconNet: channels of its wide convolutions).
    binary : bool, default=False
        OPINE-Net+: learn a binary sampling matrix (straight-through sign).
    zero_residual : bool, default=False
        ISTA-Net+ / OPINE-Net+: initialise the residual convolutions to zero, so that
        the untrained network computes projected-gradient steps (used by the ``light``
        schedule: short trainings start from there instead of from a random residual).
    sensing_seed : int, default=0
        Seed of the orthonormal-row Gaussian :math:`\Phi` (the initial one for
        OPINE-Net+); seed 0 gives the matrix of ``sparsecode.cs.measure_image``'s default.
    n_blocks : int, default=88912
        Random blocks cut from the images given to :meth:`fit` (the T91 protocol).
    augment : bool, default=False
        Random flips/rotations of the blocks.
    learning_rate : float, default=1e-4
    batch_size : int, default=64
    max_iter : int, default=200
        Epochs.
    max_steps : int or None, default=None
        Stop after this many optimizer steps.
    time_limit : float or None, default=None
        Stop after this many seconds of training (at a step boundary).
    gamma : float, default=0.01
        Weight of the symmetry loss.
    mu : float, default=0.01
        Weight of OPINE-Net+'s orthogonality loss.
    checkpoint : str or None, default=None
        Checkpoint file; training resumes from it when it exists.
    device : {"cpu", "cuda", "auto", ...}, default="cpu"
    random_state : int, RandomState or None, default=None
        Seeds the network's initialisation, the block crops and the shuffling.
    verbose : int, default=0
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over the ranks of ``torch.distributed`` (see
        :class:`~sparsecode.nn.Trainer`): ``"auto"`` under ``torchrun`` or inside an
        initialised process group of several ranks, ``True`` to require it, ``False``
        never. Every rank must be given the same data.

    Attributes
    ----------
    module_ : CSNetworkModule
    phi_ : ndarray of shape (n_measurements, block_size**2)
        The (effective) sampling matrix, float64.
    n_measurements_ : int
    n_features_in_ : int
        ``block_size**2``.
    history_ : list of dict
        Per-epoch training records of the :class:`~sparsecode.nn.Trainer`.
    n_steps_ : int
    training_time_ : float
        Seconds spent in the training loop.
    training_device_ : str

    See Also
    --------
    sparsecode.nn.cs.load_weights, sparsecode.nn.cs.pretrained :
        networks from saved / shipped weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.nn.cs import CSNetwork
    >>> rng = np.random.default_rng(0)
    >>> blocks = rng.random((256, 64)).astype(np.float32)
    >>> net = CSNetwork("ista-net+", 0.25, block_size=8, n_phases=2, n_channels=4,
    ...                 max_iter=1, random_state=0).fit(blocks)
    >>> net.predict(blocks[:3] @ net.phi_.T.astype(np.float32)).shape
    (3, 64)
    """

    _parameter_constraints: dict = {
        "model": [StrOptions(set(CS_MODELS))],
        "ratio": [Interval(numbers.Real, 0, 1, closed="right")],
        "block_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_phases": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_channels": [Interval(numbers.Integral, 1, None, closed="left")],
        "binary": ["boolean"],
        "zero_residual": ["boolean"],
        "sensing_seed": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_blocks": [Interval(numbers.Integral, 1, None, closed="left")],
        "augment": ["boolean"],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_steps": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "time_limit": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "gamma": [Interval(numbers.Real, 0, None, closed="left")],
        "mu": [Interval(numbers.Real, 0, None, closed="left")],
        "checkpoint": [str, None],
        "device": [str, None, object],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "distributed": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, model="ista-net+", ratio=0.25, *, block_size=33, n_phases=9,
                 n_channels=32, binary=False, zero_residual=False, sensing_seed=0, n_blocks=88912, augment=False,
                 learning_rate=1e-4, batch_size=64, max_iter=200, max_steps=None, time_limit=None,
                 gamma=0.01, mu=0.01, checkpoint=None, device="cpu", random_state=None, verbose=0,
                 distributed="auto"):
        self.model = model
        self.ratio = ratio
        self.block_size = block_size
        self.n_phases = n_phases
        self.n_channels = n_channels
        self.binary = binary
        self.zero_residual = zero_residual
        self.sensing_seed = sensing_seed
        self.n_blocks = n_blocks
        self.augment = augment
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_steps = max_steps
        self.time_limit = time_limit
        self.gamma = gamma
        self.mu = mu
        self.checkpoint = checkpoint
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.distributed = distributed

    @classmethod
    def from_schedule(cls, schedule="light", model="ista-net+", ratio=0.25, **params):
        """An estimator with the parameters of a schedule of :data:`SCHEDULES`
        (``"light"``: the CPU one of the shipped weights; ``"reference"``: the paper's)."""
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}.")
        return cls(model, ratio, **{**SCHEDULES[schedule], **params})

    # ---------------------------------------------------------------- module
    def _build_module(self, *, model, n_measurements, block_size, n_phases, n_channels,
                      binary, zero_residual=False):
        n = block_size * block_size
        phi = torch.zeros(n_measurements, n)
        return make_cs_model(model, phi, block_size, n_phases=n_phases, n_channels=n_channels,
                             init_matrix=torch.zeros(n, n_measurements), binary=binary,
                             zero_residual=zero_residual and model in ("ista-net+",
                                                                       "opine-net+"))

    def _module_spec(self):
        ratio = check_ratio(self.ratio)
        n = self.block_size * self.block_size
        return {"model": self.model, "n_measurements": n_measurements_for(ratio, n),
                "block_size": int(self.block_size), "n_phases": int(self.n_phases),
                "n_channels": int(self.n_channels), "binary": bool(self.binary),
                "zero_residual": bool(self.zero_residual)}

    def _new_module(self, dtype, phi, init_matrix):
        """Build ``module_`` with the given sampling / initialisation matrices."""
        module = self._init_module(dtype=dtype, **self._module_spec())
        dev, tdt = self._module_device, torch_dtype(dtype)
        with torch.no_grad():
            module.sampling.phi.copy_(torch.as_tensor(phi, dtype=tdt, device=dev))
            if hasattr(module, "init_matrix"):
                module.init_matrix.copy_(torch.as_tensor(init_matrix, dtype=tdt, device=dev))
            elif isinstance(module, CS_MODELS["reconnet"]):
                module.fc.weight.copy_(torch.as_tensor(init_matrix, dtype=tdt, device=dev))
        return module

    # ---------------------------------------------------------------- fit
    def _as_blocks(self, X, rng):
        """Blocks ``(n, B*B)`` from blocks or images."""
        B = self.block_size
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype != object:
            if X.shape[1] != B * B:
                raise ValueError(
                    f"X must hold blocks of block_size**2 = {B * B} pixels in rows, got an "
                    f"array of shape {X.shape}; to train on one image pass [image].")
            blocks = X
            if not np.issubdtype(blocks.dtype, np.floating):
                blocks = blocks.astype(np.float64)
            if not np.all(np.isfinite(blocks)):
                raise ValueError("X contains NaN or infinity.")
            return np.ascontiguousarray(blocks)
        if isinstance(X, np.ndarray) and X.ndim == 3:
            X = list(X)
        if not isinstance(X, (list, tuple)):
            raise TypeError("X must be an array of blocks (n_blocks, block_size**2) or a "
                            f"sequence of 2-D images, got {type(X).__name__}.")
        # images train in float32, the networks' native precision
        return extract_blocks(X, B, n_blocks=self.n_blocks, augment=self.augment,
                              random_state=rng, dtype=np.float32)

    def fit(self, X, y=None):
        """Train on blocks or images.

        Parameters
        ----------
        X : ndarray of shape (n_blocks, block_size**2), or sequence of 2-D images
            Blocks flattened row-major (their dtype, float32 or float64, is the
            network's), or images in [0, 1] (``n_blocks`` random blocks are cut, float32).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        check_ratio(self.ratio)
        with self._seeded() as seed:
            blocks = self._as_blocks(X, np.random.default_rng(seed))
            dtype = blocks.dtype
            phi = sensing_matrix(self.ratio, self.block_size, random_state=self.sensing_seed)
            Y = blocks @ phi.T.astype(blocks.dtype)
            Q = least_squares_init(blocks, Y)
            module = self._new_module(dtype, phi, Q)
            trainer = make_trainer(gamma=self.gamma, mu=self.mu,
                                   learning_rate=self.learning_rate,
                                   batch_size=self.batch_size, max_iter=self.max_iter,
                                   max_steps=self.max_steps, checkpoint_path=self.checkpoint,
                                   device=self._resolve_device(), generator=self._generator(),
                                   verbose=self.verbose, desc=self.model,
                                   time_limit=self.time_limit,
                                   distributed=self.distributed)
            t0 = time.perf_counter()
            self.history_ = trainer.fit(module, torch.as_tensor(blocks))
            self.training_time_ = time.perf_counter() - t0
        self.n_steps_ = int(trainer.step)
        self.training_device_ = str(self._module_device)
        self._finish_fit()
        return self

    def _finish_fit(self):
        module = self.module_
        module.eval()
        with torch.no_grad():
            self.phi_ = module.sampling.matrix().detach().cpu().double().numpy()
        self.n_measurements_ = int(self.phi_.shape[0])
        self.n_features_in_ = int(self.block_size) ** 2

    # ---------------------------------------------------------------- inference
    def _check_measurements(self, Y, name="Y"):
        Y = np.asarray(Y)
        if not np.issubdtype(Y.dtype, np.floating):
            Y = Y.astype(np.float64)
        if Y.ndim != 2 or Y.shape[1] != self.n_measurements_:
            raise ValueError(
                f"{name} must have shape (n_blocks, {self.n_measurements_}) (n_measurements "
                f"of ratio {self.ratio:g} with {self.block_size}x{self.block_size} blocks), "
                f"got {Y.shape}.")
        if not np.all(np.isfinite(Y)):
            raise ValueError(f"{name} contains NaN or infinity.")
        return Y

    def predict(self, Y):
        """Reconstruct blocks from their measurements.

        Parameters
        ----------
        Y : array-like of shape (n_blocks, n_measurements)

        Returns
        -------
        X : ndarray of shape (n_blocks, block_size**2), dtype of ``Y`` (float32/64)
        """
        check_is_fitted(self, "module_")
        Y = self._check_measurements(Y)
        B = self.block_size
        return self._batched(lambda yb: self.module_(yb).reshape(-1, B * B), Y,
                             batch_size=1024)

    def sensing_operator(self, image_shape):
        """The :class:`~sparsecode.operators.BlockCSOperator` of the network's
        :math:`\\Phi` for images of ``image_shape`` (use it with the classic solvers)."""
        check_is_fitted(self, "module_")
        return BlockCSOperator(image_shape, MatrixOperator(self.phi_, name="phi"),
                               block_size=self.block_size)

    def measure(self, image):
        """Block-CS measurements of an image, ``sensing_operator(image.shape) @ image``."""
        image = self._check_image(image)
        return self.sensing_operator(image.shape).forward(image.astype(np.float64).ravel())

    def _check_image(self, image):
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"image must be a 2-D grayscale image, got shape {image.shape}.")
        B = self.block_size
        if image.shape[0] < B or image.shape[1] < B:
            raise ValueError(f"image of shape {image.shape} is smaller than a block "
                             f"({B}x{B}).")
        if not np.issubdtype(image.dtype, np.floating):
            image = image.astype(np.float64)
        if not np.all(np.isfinite(image)):
            raise ValueError("image contains NaN or infinity.")
        return image

    def reconstruct(self, image_or_measurements, image_shape=None):
        """Reconstruct an image from its measurements, or measure an image and
        reconstruct it.

        Parameters
        ----------
        image_or_measurements : ndarray of shape (height, width) or (n_measurements,)
            An image (measured with :meth:`measure` first) or block-CS measurements in
            the layout of :meth:`sensing_operator`.
        image_shape : (int, int), default=None
            Required with measurements.

        Returns
        -------
        image : ndarray of shape (height, width), float64 (float32 for float32 input)
        """
        check_is_fitted(self, "module_")
        a = np.asarray(image_or_measurements)
        if a.ndim == 2:
            if image_shape is not None and tuple(image_shape) != a.shape:
                raise ValueError(f"image_shape={tuple(image_shape)} does not match the "
                                 f"image of shape {a.shape}.")
            image = self._check_image(a)
            y, image_shape, out_dtype = self.measure(image), image.shape, image.dtype
        elif a.ndim == 1:
            if image_shape is None:
                raise ValueError("image_shape is required to reconstruct from measurements.")
            y, out_dtype = a, (a.dtype if np.issubdtype(a.dtype, np.floating)
                               else np.float64)
        else:
            raise ValueError("image_or_measurements must be a 2-D image or a 1-D vector of "
                             f"measurements, got shape {a.shape}.")
        op = BlockCSOperator(image_shape, np.zeros((self.n_measurements_, self.n_features_in_)),
                             block_size=self.block_size)
        B = self.block_size
        if op.image_shape[0] < B or op.image_shape[1] < B:
            raise ValueError(f"image_shape={op.image_shape} is smaller than a block ({B}x{B}).")
        if y.shape[0] != op.shape[0]:
            raise ValueError(
                f"measurements must have {op.shape[0]} entries for an image of shape "
                f"{op.image_shape} ({op.n_blocks} blocks x {self.n_measurements_}), "
                f"got {y.shape[0]}.")
        Y = self._check_measurements(y.reshape(op.n_blocks, self.n_measurements_),
                                     "measurements")
        H, W = op.image_shape
        Hp, Wp = op.padded_shape
        module = self.module_
        was = module.training
        module.eval()
        try:
            with torch.no_grad():
                x = module(self._to_tensor(Y)[None], (Hp, Wp))
        finally:
            module.train(was)
        return self._to_numpy(x[0, 0, :H, :W], np.dtype(out_dtype))

    # ---------------------------------------------------------------- weights
    def save_weights(self, path, *, metadata=None):
        """Write the network to a ``safetensors`` file (see :func:`save_weights`)."""
        from .weights import save_weights

        return save_weights(self, path, metadata=metadata)

    def load_weights(self, path):
        """Load weights written by :meth:`save_weights` into this estimator.

        The file's model, ratio, block size, phases and channels must be this
        estimator's (a ``ValueError`` names the first that differs); returns ``self``.
        """
        from .weights import _load_into

        self._validate_params()
        return _load_into(self, path)

