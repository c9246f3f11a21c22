"""NumPy forms of the ONNX ops a classifier's head and conv stages use: forward and input-gradient.

Conventions follow onnxruntime's forward and PyTorch's autograd: max pooling sends a window's
gradient to its first maximum in row-major order, ReLU passes where its output is positive,
batch normalisation is the inference-time affine map. Arrays are NCHW float32.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad(x: np.ndarray, p: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    top, left, bottom, right = p
    if not any(p):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
           pads: tuple[int, int, int, int], groups: int) -> np.ndarray:
    """ONNX Conv (dilation 1): im2col and one matrix product per group."""
    n = x.shape[0]
    cout, cin_g, kh, kw = w.shape
    xp = _pad(x, pads)
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride[0], ::stride[1]]  # N C Ho Wo kh kw
    ho, wo = win.shape[2], win.shape[3]
    out = np.empty((n, cout, ho, wo), np.float32)
    og = cout // groups
    for g in range(groups):
        cols = win[:, g * cin_g:(g + 1) * cin_g].transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, cin_g * kh * kw)
        wg = np.ascontiguousarray(w[g * og:(g + 1) * og]).reshape(og, -1)
        # weights on the left: OpenBLAS is ~10x faster this way round for few output positions
        out[:, g * og:(g + 1) * og] = (wg @ cols.T).reshape(og, n, ho, wo).transpose(1, 0, 2, 3)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def conv2d_grad_input(dy: np.ndarray, w: np.ndarray, in_shape: tuple[int, ...], stride: tuple[int, int],
                      pads: tuple[int, int, int, int], groups: int) -> np.ndarray:
    """The gradient of a convolution with respect to its input: a transposed convolution (col2im)."""
    n, cout, ho, wo = dy.shape
    _, cin_g, kh, kw = w.shape
    top, left, bottom, right = pads
    hp, wp = in_shape[2] + top + bottom, in_shape[3] + left + right
    dxp = np.zeros((n, cin_g * groups, hp, wp), np.float32)
    og = cout // groups
    sh, sw = stride
    for g in range(groups):
        wg = np.ascontiguousarray(w[g * og:(g + 1) * og]).reshape(og, cin_g * kh * kw)
        dyg = dy[:, g * og:(g + 1) * og].transpose(1, 0, 2, 3).reshape(og, n * ho * wo)
        cols = (wg.T @ dyg).reshape(cin_g, kh, kw, n, ho, wo).transpose(3, 0, 1, 2, 4, 5)
        part = dxp[:, g * cin_g:(g + 1) * cin_g]
        if ho == wo == 1:  # one output position (LeNet-5's C5): the window is the whole scatter
            part[:, :, :kh, :kw] += cols[:, :, :, :, 0, 0]
            continue
        for i in range(kh):
            for j in range(kw):
                part[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += cols[:, :, i, j]
    return dxp[:, :, top:hp - bottom, left:wp - right]


def _pool_windows(x: np.ndarray, k: tuple[int, int], stride: tuple[int, int],
                  pads: tuple[int, int, int, int]) -> np.ndarray:
    xp = _pad(x, pads, -np.inf)
    return sliding_window_view(xp, k, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]


def maxpool(x: np.ndarray, k: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
    return _pool_windows(x, k, stride, pads).max(axis=(4, 5))


def maxpool_grad_input(dy: np.ndarray, x: np.ndarray, k: tuple[int, int], stride: tuple[int, int],
                       pads: tuple[int, int, int, int]) -> np.ndarray:
    """Each window's gradient goes to its first maximum (row-major), as PyTorch's max_pool2d does."""
    win = _pool_windows(x, k, stride, pads)
    n, c, ho, wo = win.shape[:4]
    arg = win.reshape(n, c, ho, wo, k[0] * k[1]).argmax(axis=4)  # first occurrence of the maximum
    di, dj = np.divmod(arg, k[1])
    rows = np.arange(ho).reshape(1, 1, ho, 1) * stride[0] + di
    cols = np.arange(wo).reshape(1, 1, 1, wo) * stride[1] + dj
    top, left, bottom, right = pads
    dxp = np.zeros((n, c, x.shape[2] + top + bottom, x.shape[3] + left + right), np.float32)
    nn_, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    idx = (nn_[:, :, None, None], cc[:, :, None, None], rows, cols)
    if stride[0] >= k[0] and stride[1] >= k[1]:  # windows do not overlap: no index repeats
        dxp[idx] += dy
    else:
        np.add.at(dxp, idx, dy)
    return dxp[:, :, top:top + x.shape[2], left:left + x.shape[3]]


def bn_scale(gamma: np.ndarray, var: np.ndarray, eps: float) -> np.ndarray:
    return (gamma / np.sqrt(var + np.float32(eps))).astype(np.float32)


def batchnorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
              eps: float) -> np.ndarray:
    s = bn_scale(gamma, var, eps).reshape(1, -1, *([1] * (x.ndim - 2)))
    return ((x - mean.reshape(s.shape)) * s + beta.reshape(s.shape)).astype(np.float32)


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient over the axes an input was broadcast along."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, d in enumerate(shape):
        if d == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
