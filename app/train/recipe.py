"""The training recipes of the digit models (optimiser, schedule, loss, augmentation strength, stage 2's
moving average and serif flags) and the words a model card says about them, derived from the numbers."""

from __future__ import annotations

from dataclasses import dataclass

from app.train.augment import ELASTIC_ALPHA, ELASTIC_SIGMA, FLAG_ANGLE, FLAG_LENGTH, THICKER, THINNER

# how strongly augment distorts: stage 1 (and lenet5-1998) at full strength, LeNet-5's stage 2 lighter
FULL_AUG: dict[str, float] = {"rotate": 12.0, "scale": 0.15, "shear": 0.15, "shift": 2.5, "elastic_p": 1.0,
                              "alpha": ELASTIC_ALPHA}
LIGHT_AUG: dict[str, float] = {"rotate": 8.0, "scale": 0.10, "shear": 0.10, "shift": 2.0, "elastic_p": 0.5,
                               "alpha": 24.0}
RBF_LOSS = "cross-entropy over the negated RBF distances"  # lenet5-1998's output layer: Euclidean RBF units


@dataclass(frozen=True)
class Recipe:
    """AdamW at ``lr`` (weight decay ``wd``) on a one-cycle schedule warming up for ``warmup`` of the steps,
    cross-entropy with label smoothing ``smoothing``. Stage 2 starts from a stage-1 file: ``ema`` (the decay
    per step of the moving average of the weights, which is what gets written) and ``flag_p`` (the share of
    the 1s given a serif flag). ``loss`` says what the loss is taken over when it is not plain logits."""

    lr: float
    wd: float
    smoothing: float
    warmup: float
    aug: dict[str, float]
    stage: int = 1
    ema: float | None = None
    flag_p: float = 0.0
    loss: str = ""

    @property
    def optimizer(self) -> str:
        """The card's "optimizer" entry."""
        s = f"AdamW lr {_sci(self.lr)} " + (f"wd {_sci(self.wd)}" if self.wd else "no weight decay")
        s += f", one-cycle ({self.warmup:.0%} warm-up)"
        if self.smoothing:
            s += f", label smoothing {self.smoothing:g}"
        if self.loss:  # stage 1 names the loss and where it comes from, stage 2 repeats it briefly
            s += (f"; loss: {self.loss} (the paper's eq. 9 without its constant j)" if self.stage == 1
                  else f", {self.loss}")
        if self.ema:
            s += f"; the written weights are the EMA (decay {self.ema:g} per step) of the trained ones"
        return s

    @property
    def augmentation(self) -> str:
        """The card's "augmentation" entry."""
        a = self.aug
        s = (f"random affine: rotation +-{a['rotate']:g} deg, scale {1 - a['scale']:g}-{1 + a['scale']:g}, "
             f"shear +-{a['shear']:g}, shift +-{a['shift']:g} px; elastic distortion (Simard 2003): sigma "
             f"{ELASTIC_SIGMA:g} px, alpha uniform in [0, {a['alpha']:g}] px")
        if a["elastic_p"] >= 1:
            s += f" per image (Simard's {ELASTIC_ALPHA:g} at most), every image"
        else:
            s += ", on half the images" if a["elastic_p"] == 0.5 else f", on {a['elastic_p']:.0%} of the images"
        if self.stage == 1:
            s += (f"; stroke width: {THICKER:.0%} thicker (random blend towards a 1-px dilation), {THINNER:.0%} "
                  "thinner (soft 2x2 erosion)")
        else:
            s += "; stroke width as in stage 1"
        if self.flag_p:
            s += (f"; a serif flag on {self.flag_p:.0%} of the 1s (train.flag_ones: a {FLAG_LENGTH[0]:g}-"
                  f"{FLAG_LENGTH[1]:g} px segment {FLAG_ANGLE[0]:g}-{FLAG_ANGLE[1]:g} deg down-left from the top "
                  "of the real MNIST stroke, before the distortions)")
        return s


def _sci(x: float) -> str:
    """0.003 -> '3e-3' (the way learning rates are written)."""
    mantissa, exp = f"{x:e}".split("e")
    return f"{float(mantissa):g}e{int(exp)}"


# stage 2 (convscope train NAME --from FILE): from a stage-1 checkpoint, lighter distortions (LeNet-5) so the
# last epochs see digits closer to real ones, serif-flagged 1s, and an exponential moving average of the
# weights (the same network), which is what gets written
RECIPES: dict[str, Recipe] = {
    "lenet5": Recipe(lr=3e-3, wd=5e-4, smoothing=0.05, warmup=0.25, aug=FULL_AUG),
    "lenet5-stage2": Recipe(lr=4e-4, wd=5e-4, smoothing=0.05, warmup=0.1, aug=LIGHT_AUG, stage=2, ema=0.999,
                            flag_p=0.3),
    "lenet5-1998": Recipe(lr=2e-3, wd=0.0, smoothing=0.0, warmup=0.25, aug=FULL_AUG, loss=RBF_LOSS),
    "lenet5-1998-stage2": Recipe(lr=3e-4, wd=0.0, smoothing=0.0, warmup=0.1, aug=LIGHT_AUG, stage=2, ema=0.999,
                                 flag_p=0.3, loss=RBF_LOSS),
}


def recipe(name: str, stage2: bool) -> Recipe:
    """``name``'s recipe: stage 1 from scratch, stage 2 from a trained file."""
    return RECIPES[f"{name}-stage2" if stage2 else name]
