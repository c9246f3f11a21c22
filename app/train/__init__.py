"""Train LeNet-5 (modern and 1998) on real MNIST (the train extra): augmentation for hand-drawn input,
one-cycle schedule, fixed seeds; write the ONNX with its model card. Also evaluation on the test set.

recipe (the numbers and the card's words for them), augment (the distortions), start (initial weights),
loop (training and evaluation), card (the model card and writing it)."""

from app.train.augment import ELASTIC_ALPHA, ELASTIC_SIGMA, augment, elastic_field, flag_ones
from app.train.card import write_trained
from app.train.loop import evaluate_session, evaluate_weights, train_lenet5, train_model, train_seeds
from app.train.recipe import FULL_AUG, LIGHT_AUG, RECIPES, Recipe
from app.train.start import init_weights, load_onnx_weights

__all__ = ["ELASTIC_ALPHA", "ELASTIC_SIGMA", "FULL_AUG", "LIGHT_AUG", "RECIPES", "Recipe", "augment",
           "elastic_field", "evaluate_session", "evaluate_weights", "flag_ones", "init_weights",
           "load_onnx_weights", "train_lenet5", "train_model", "train_seeds", "write_trained"]
