"""Model versions on an S3-compatible object store: moto's server on this machine, spoken to
over HTTP by django-storages as it would speak to S3, MinIO or Ceph. A training uploads the
version; a machine without it copies it once into its own folder and memory-maps it there; a
store that fails leaves the shop unpersonalized, never broken; and two web processes, each
with a folder of its own (two machines), serve a version that a real Celery worker trained
and activated."""

import json
import socket
import uuid

import boto3
import numpy as np
import pytest
from conftest import ShopServer, eventually

from personalization.model_files import models_storage, version_folder
from personalization.models import EmbeddingVersion
from personalization.serving import model_active, models_loaded_clear
from personalization.tasks import training_enqueue
from personalization.training import embeddings_train
from personalization.versions import training_version_create, version_delete

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on a free port of this machine."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, settings, monkeypatch, models_dir):
    """A new bucket the shop keeps its versions in: in the settings, and in the environment
    that the processes the test starts inherit."""
    name = f"models-{uuid.uuid4().hex[:12]}"
    store = {"CIS_MODELS_BUCKET": name, "CIS_MODELS_ENDPOINT_URL": s3_server}
    for variable, value in (AWS | store).items():
        monkeypatch.setenv(variable, value)
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    settings.CIS_MODELS_BUCKET, settings.CIS_MODELS_ENDPOINT_URL = name, s3_server
    models_loaded_clear()
    return name


def stored(s3_server: str, bucket: str) -> dict[str, int]:
    """The bucket's objects and their sizes."""
    listed = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket=bucket)
    return {item["Key"]: item["Size"] for item in listed.get("Contents", [])}


def test_a_training_uploads_its_version_and_another_machine_serves_it_from_its_own_copy(
    shop_log, bucket, s3_server, settings, models_dir, tmp_path
):
    version = embeddings_train(training_version_create().pk, activate=True)
    prefix = f"models/product/v{version.pk}/"
    objects = {key[len(prefix) :]: size for key, size in stored(s3_server, bucket).items()}
    assert {"vectors.kv", "vectors.kv.vectors.npy", "config.json"} <= set(objects)
    worker_copy = models_dir / version.path  # the training machine keeps what it made
    assert {p.name: p.stat().st_size for p in worker_copy.iterdir()} == objects

    settings.CIS_MODELS_DIR = tmp_path / "another-machine"  # nothing of the version there
    gone = tmp_path / "another-machine" / "product" / f"v{version.pk + 1000}"  # deleted since
    gone.mkdir(parents=True)
    models_loaded_clear()
    served = model_active()
    assert served is not None and served.version_id == version.pk
    assert served.directory == tmp_path / "another-machine" / version.path
    assert {p.name: p.stat().st_size for p in served.directory.iterdir()} == objects
    assert isinstance(served.recommender.vectors.vectors, np.memmap)  # mapped, not read whole
    assert not list((tmp_path / "another-machine" / "product").glob(".download-*"))
    assert not gone.exists()  # the copy of a version that no longer exists, deleted

    EmbeddingVersion.objects.filter(pk=version.pk).update(is_active=False)
    version_delete(EmbeddingVersion.objects.get(pk=version.pk))
    assert not any(key.startswith(prefix) for key in stored(s3_server, bucket))
    assert not served.directory.exists()


def test_a_store_that_fails_leaves_the_shop_unpersonalized_until_it_answers(
    shop_log, bucket, s3_server, settings, tmp_path, caplog
):
    version = embeddings_train(training_version_create().pk, activate=True)
    settings.CIS_MODELS_DIR = tmp_path / "another-machine"
    settings.CIS_MODELS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    settings.CIS_MODEL_CHECK_SECONDS = 0
    models_loaded_clear()
    assert model_active() is None
    assert "cannot be loaded" in caplog.text and "model store" in caplog.text
    assert not (tmp_path / "another-machine" / version.path).exists()  # no half copy
    settings.CIS_MODELS_ENDPOINT_URL = s3_server
    assert model_active().version_id == version.pk


def test_a_version_the_store_lacks_is_not_served(shop_log, bucket, s3_server, settings, tmp_path):
    with pytest.raises(OSError, match="holds no file"):
        version_folder("product/v999")
    assert models_storage().listdir("product")[0] == []


@pytest.mark.slow
@pytest.mark.redis
def test_two_web_processes_serve_the_version_a_worker_activated_each_from_its_copy(
    shop_log, bucket, s3_server, celery_worker, models_dir, tmp_path
):
    """The worker has the store and a folder of its own (models_dir); each web process has
    another, as if each ran on a machine of its own: what they share is the database and the
    object store."""
    servers = []
    try:
        for machine in ("web-1", "web-2"):
            env = {"CIS_DATA_DIR": str(tmp_path / machine / "data"),
                   "CIS_MODELS_DIR": str(tmp_path / machine / "models"),
                   "CIS_MODEL_CHECK_SECONDS": "0.2", "DEBUG": "false"}  # fmt: skip
            servers.append(ShopServer(tmp_path, env))
        for server in servers:
            assert server.get("/api/space/")[0] == 404  # no model yet
        version = training_enqueue()
        eventually(
            lambda: EmbeddingVersion.objects.filter(pk=version.pk, is_active=True).exists(),
            what="the worker to train and activate the version",
            seconds=600,
            details=lambda: (tmp_path / "worker.log").read_text()[-3000:],
        )
        version.refresh_from_db()

        def serves(server) -> bool:
            status, _, body = server.get("/api/space/")
            return status == 200 and json.loads(body)["version"] == version.pk

        for server in servers:
            eventually(lambda server=server: serves(server), what="the web process to serve it")
        objects = stored(s3_server, bucket)
        for machine in ("web-1", "web-2"):
            copy = tmp_path / machine / "models" / version.path
            files = {f"models/{version.path}/{p.name}": p.stat().st_size for p in copy.iterdir()}
            assert files == objects
        assert (models_dir / version.path).is_dir()  # the worker's own
    finally:
        for server in servers:
            server.kill()
