# The shop's image: the same pinned dependencies as `make install`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CIS_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml requirements.lock ./
COPY storefront storefront
COPY catalog catalog
COPY personalization personalization
COPY common common
RUN pip install --no-cache-dir -c requirements.lock .
COPY . .
EXPOSE 8000
CMD ["sh", "-c", "python manage.py demo_setup && python manage.py runserver 0.0.0.0:8000"]
