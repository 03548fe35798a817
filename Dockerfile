# taskconsole run in a container: slim Python, a non-root user, the package installed from this
# source tree, JSON logs on standard error, and a health check on the HTTP API's /healthz.
# Build: docker build -t taskconsole .   Run: deploy/compose.yaml, or
#   docker run -e TASKCONSOLE_DATABASE_URL=postgresql+psycopg2://USER:PASSWORD@HOST/DB -p 5000:5000 taskconsole
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY console ./console
RUN python -m venv /opt/taskconsole \
    && /opt/taskconsole/bin/pip install --no-cache-dir /src

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/taskconsole --create-home taskconsole
COPY --from=build /opt/taskconsole /opt/taskconsole
COPY deploy/container/settings.yaml /etc/taskconsole/settings.yaml
ENV PATH=/opt/taskconsole/bin:$PATH \
    TASKCONSOLE_CONFIG=/etc/taskconsole/settings.yaml \
    PYTHONUNBUFFERED=1
USER taskconsole
WORKDIR /var/lib/taskconsole
EXPOSE 5000
# /healthz answers 200 while the database answers, 503 when it does not (no token needed); asked on
# the port the settings listen on (http.listen, or TASKCONSOLE_CONFIG's file), not a fixed one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "console.cli.healthcheck"]
# A settings mistake stops the container at once (exit 2) rather than at the first job.
CMD ["sh", "-c", "taskconsole config check && exec taskconsole run"]
