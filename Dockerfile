# convscope: the web app and API on onnxruntime. No PyTorch in the image.
#   docker build -t convscope .
#   docker run -p 8000:8000 convscope
# Build arguments:
#   PRETRAINED="resnet50 vgg16-3"  download torchvision's published checkpoints while the image is
#                                   built (needs internet in the builder), verify their pinned sha256
#                                   and import them: the image serves those models pretrained
#   PREBUILD="vgg19 resnet152"     write those built-in models (untrained) into the image, so their
#                                   first request needs no build (default: none; LeNet-5 is committed)
#   BASE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 GPU=1
#                                   a CUDA base image and onnxruntime's CUDA build instead of the CPU one
#                                   (run with `docker run --gpus all ...`; /healthz says which provider runs)
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG GPU=""

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONVSCOPE_MODELS_DIR=/app/models OMP_WAIT_POLICY=PASSIVE PATH=/opt/venv/bin:$PATH

# CUDA base images carry no Python: take the distribution's (the python image already has one)
RUN if ! command -v python3 >/dev/null; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv \
    && useradd --create-home --uid 10001 convscope
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY models/lenet5.onnx models/lenet5.card.json models/imagenet_classes.tsv ./models/
# a real wheel install: static/, templates/ and the committed models ship inside the package
RUN pip install --no-compile . \
    && if [ -n "$GPU" ]; then \
        v=$(python -c "import importlib.metadata as m; print(m.version('onnxruntime'))") \
        && pip uninstall -y onnxruntime && pip install --no-compile "onnxruntime-gpu==$v"; \
    fi \
    && mkdir -p /app/models && cp models/lenet5.onnx models/lenet5.card.json /app/models/ \
    && cd / && rm -rf /src
WORKDIR /app

ARG PRETRAINED=""
ARG PREBUILD=""
# no PyTorch needed: without it, .pth files are read by a restricted unpickler (app/weights/importer.py)
RUN if [ -n "$PRETRAINED" ]; then \
        for m in $PRETRAINED; do convscope download "$m" || exit 1; done && rm -rf /root/.cache; \
    fi \
    && if [ -n "$PREBUILD" ]; then convscope build $PREBUILD; fi \
    && chown -R convscope:convscope /app/models

USER convscope
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# bound to all interfaces: the page's downloads stay off unless --allow-downloads is added here
CMD ["convscope", "serve", "--host", "0.0.0.0", "--port", "8000"]
