"""Sparsity schedules: how sparse at which training step."""

from __future__ import annotations

import numbers

from ._common import _check_sparsity, _check_step


# ---------------------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------------------
class SparsitySchedule:
    """Base of pruning schedules: ``schedule(step) -> (update_now, target_sparsity)``.

    Subclasses implement :meth:`sparsity`. Masks are updated at
    ``begin_step``, then every ``frequency`` steps up to ``end_step`` (inclusive, and
    always at ``end_step`` itself), never after ``end_step`` (``None``: forever).
    """

    def __init__(self, begin_step=0, end_step=None, frequency=100):
        self.begin_step = _check_step(begin_step, "begin_step")
        if end_step is not None:
            end_step = _check_step(end_step, "end_step")
            if end_step < self.begin_step:
                raise ValueError(
                    f"end_step must be >= begin_step={self.begin_step}, got {end_step}."
                )
        self.end_step = end_step
        self.frequency = _check_step(frequency, "frequency", minimum=1)

    def sparsity(self, step):  # pragma: no cover - abstract
        raise NotImplementedError

    def should_update(self, step):
        if step < self.begin_step:
            return False
        if self.end_step is not None and step > self.end_step:
            return False
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step

    def __call__(self, step):
        return self.should_update(step), self.sparsity(step)

    def __repr__(self):
        attrs = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({attrs})"


class ConstantSparsity(SparsitySchedule):
    """Constant target sparsity (TF-MOT ``ConstantSparsity``).

    Parameters
    ----------
    target_sparsity : float in [0, 1)
    begin_step : int, default=0
    end_step : int or None, default=None
    frequency : int, default=100
    """

    def __init__(self, target_sparsity, begin_step=0, end_step=None, frequency=100):
        super().__init__(begin_step, end_step, frequency)
        self.target_sparsity = _check_sparsity(target_sparsity, "target_sparsity")

    def sparsity(self, step):
        return self.target_sparsity


class PolynomialDecay(SparsitySchedule):
    r"""Polynomial sparsity schedule (Zhu & Gupta 2017; TF-MOT ``PolynomialDecay``).

    .. math::

        s(t) = s_f + (s_i - s_f)\Big(1 - \frac{t - t_0}{t_1 - t_0}\Big)^{p},
        \qquad t_0 \le t \le t_1,

    :math:`s_i` before ``begin_step``, :math:`s_f` after ``end_step``; the target is
    reached exactly at ``end_step``.

    Parameters
    ----------
    initial_sparsity, final_sparsity : float in [0, 1)
    begin_step, end_step : int
    power : float, default=3
    frequency : int, default=100

    Examples
    --------
    >>> from sparsecode.nn.prune import PolynomialDecay
    >>> s = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, frequency=10)
    >>> s(0), s(50)[1] > 0.6, s(100)
    ((True, 0.0), True, (True, 0.8))
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3,
                 frequency=100):
        super().__init__(begin_step, end_step, frequency)
        if self.end_step is None or self.end_step == self.begin_step:
            raise ValueError(
                f"end_step must be > begin_step={self.begin_step}, got {end_step}."
            )
        self.initial_sparsity = _check_sparsity(initial_sparsity, "initial_sparsity")
        self.final_sparsity = _check_sparsity(final_sparsity, "final_sparsity")
        if isinstance(power, bool) or not isinstance(power, numbers.Real) or power <= 0:
            raise ValueError(f"power must be a positive float, got {power!r}.")
        self.power = float(power)

    def sparsity(self, step):
        if step <= self.begin_step:
            return self.initial_sparsity
        if step >= self.end_step:
            return self.final_sparsity
        frac = (step - self.begin_step) / (self.end_step - self.begin_step)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (
            1.0 - frac) ** self.power


class LinearSparsity(PolynomialDecay):
    """:class:`PolynomialDecay` with ``power=1``."""

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step,
                 frequency=100):
        super().__init__(initial_sparsity, final_sparsity, begin_step, end_step, power=1,
                         frequency=frequency)


