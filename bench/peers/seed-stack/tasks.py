"""The seed's worker (shared/ORIGINAL-DESIGN.md, 3.2): Celery tasks on Redis, Pillow at quality 50, MongoDB.

process_images fans out one process_product_images per product; each downloads its images with requests,
re-encodes them with Pillow at quality 50, stores them and records its outputs; check_request_completion
updates the percentage and, at the end, marks the request completed and queues trigger_webhook.

One change from the design, for FerretDB: its updates read the document and write it back whole, without a
transaction, so two products finishing at once each `$inc` the same count and one increment is lost (and a
`$set` of the percentage can undo another task's write): the request never completes. Each product's outputs
are therefore inserted as a document of their own (`product_outputs`, one per product, inserted once), and
the count is the number of those documents.
"""
import io
import os
import uuid
from datetime import datetime, timezone

import requests
from bson import ObjectId
from celery import Celery
from PIL import Image
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

REDIS_URL = os.environ["REDIS_URL"]
STORAGE_DIR = os.environ["STORAGE_DIR"]
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
QUALITY = 50

celery = Celery("seed", broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])

_client = None


def database():
    """One MongoDB client per worker process (created after the pool forks)."""
    global _client
    if _client is None:
        _client = MongoClient(os.environ["MONGO_URL"])
    return _client.get_default_database()


def collection():
    return database()["processing_requests"]


def outputs():
    return database()["product_outputs"]


def now():
    return datetime.now(timezone.utc)


@celery.task(name="process_images")
def process_images(request_id: str):
    found = collection().find_one_and_update(
        {"_id": ObjectId(request_id)},
        {"$set": {"status": "in_progress", "updated_at": now()}},
    )
    if found is None:
        return
    for index in range(len(found["products"])):
        process_product_images.delay(request_id, index)


def compress(url: str) -> str:
    """Downloads one image, re-encodes it at quality 50 and stores it; returns its URL."""
    answer = requests.get(url, timeout=15)
    answer.raise_for_status()
    image = Image.open(io.BytesIO(answer.content))
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    name = f"{uuid.uuid4().hex}.jpg"
    image.save(os.path.join(STORAGE_DIR, name), "JPEG", quality=QUALITY)
    return f"{PUBLIC_BASE_URL}/images/{name}"


@celery.task(name="process_product_images")
def process_product_images(request_id: str, index: int):
    found = collection().find_one({"_id": ObjectId(request_id)})
    product = found["products"][index]
    urls = []
    for url in product["input_image_urls"]:
        try:
            urls.append(compress(url))
        except Exception:
            urls.append(None)
    try:
        outputs().insert_one({"_id": f"{request_id}:{index}", "request_id": request_id, "urls": urls})
    except DuplicateKeyError:
        pass
    check_request_completion.delay(request_id)


@celery.task(name="check_request_completion")
def check_request_completion(request_id: str):
    found = collection().find_one({"_id": ObjectId(request_id)})
    total = len(found["products"])
    done = outputs().count_documents({"request_id": request_id})
    update = {"completion_percentage": round(100.0 * done / total, 2), "updated_at": now()}
    if done >= total and found["status"] != "completed":
        update["status"] = "completed"
        collection().update_one({"_id": ObjectId(request_id)}, {"$set": update})
        if found.get("webhook_url"):
            trigger_webhook.delay(request_id)
        return
    # Not over a request another check completed meanwhile.
    collection().update_one({"_id": ObjectId(request_id), "status": {"$ne": "completed"}}, {"$set": update})


@celery.task(name="trigger_webhook")
def trigger_webhook(request_id: str):
    found = collection().find_one({"_id": ObjectId(request_id)}, {"webhook_url": 1, "status": 1})
    requests.post(
        found["webhook_url"],
        json={"type": "request.completed", "data": {"request_id": request_id, "status": found["status"]}},
        timeout=10,
    )
