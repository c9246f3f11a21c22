# convscope: the web app and API on onnxruntime (CPU). No PyTorch in the image.
#   docker build -t convscope .
#   docker run -p 8000:8000 convscope
# Build arguments:
#   PRETRAINED="resnet50 vgg16-3"  download torchvision's published checkpoints while the image is
#                                   built (needs internet in the builder), verify their hashes and
#                                   import them: the image serves those models pretrained
#   PREBUILD="vgg19 resnet152"     write those built-in models (untrained) into the image, so their
#                                   first request needs no build (default: none; LeNet-5 is committed)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CONVSCOPE_MODELS_DIR=/app/models OMP_WAIT_POLICY=PASSIVE

RUN useradd --create-home --uid 10001 convscope
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY models ./models
# editable: templates/, static/ and models/ stay beside the package, where the app looks for them
RUN pip install --no-compile -e .

ARG PRETRAINED=""
ARG PREBUILD=""
# no PyTorch needed: without it, .pth files are read by a restricted unpickler (app/importer.py)
RUN if [ -n "$PRETRAINED" ]; then \
        for m in $PRETRAINED; do convscope download "$m" || exit 1; done && rm -rf /root/.cache; \
    fi \
    && if [ -n "$PREBUILD" ]; then convscope build $PREBUILD; fi \
    && chown -R convscope:convscope /app/models

USER convscope
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["convscope", "serve", "--host", "0.0.0.0", "--port", "8000"]
