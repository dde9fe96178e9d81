# One image for every unit and the edge; docker-compose.yml picks the process with `command`.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt requirements-assets.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-assets.txt
COPY protos protos
COPY generated generated
COPY services services
COPY edge edge
COPY tools tools
ENV PYTHONPATH=/app:/app/generated \
    AGENTMESH_HOST=0.0.0.0 \
    AGENTMESH_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME /data
