# The shop's image, for docker-compose.yml: the project's own dependencies (not its [dev] tools)
# at the versions of requirements.lock, its static files collected, run by a user without rights.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CIS_DATA_DIR=/data STATIC_ROOT=/app/staticfiles
WORKDIR /app

# Dependencies first, so that a change to the code reuses this layer.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Static files are collected into the image (hashed names, gzip), outside the data volume, so
# each new image serves its own. The key is for this command only: settings require one.
RUN DJANGO_ENV=production SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0

# The data volume (database files, media, models, indexes) belongs to the user the shop runs as.
RUN useradd --create-home --uid 10001 shop && mkdir -p /data && chown shop:shop /data
USER shop
EXPOSE 8000
CMD ["gunicorn", "storefront.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--no-control-socket", "--access-logfile", "-"]
