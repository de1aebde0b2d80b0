# rofs in a container, built to run with a read-only root filesystem.
#   docker build -t rofs .
#   docker run --rm --read-only -v "$PWD:/work:ro" rofs audit /work
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/*.whl \
 && python -m compileall -q /usr/local/lib/python3.12/site-packages/rofs \
 && rm -rf /wheels \
 && mkdir -p /work /reports \
 && chown 10001:10001 /reports
ENV PYTHONDONTWRITEBYTECODE=1
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["rofs"]
CMD ["--help"]
