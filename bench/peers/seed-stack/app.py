"""The seed's API (shared/ORIGINAL-DESIGN.md, 3.1), as a minimal FastAPI service: upload, status, download.

A benchmark peer, not part of the service: it runs the original design unchanged but for its connection
settings (MONGO_URL, REDIS_URL, STORAGE_DIR, PUBLIC_BASE_URL), so that `npm run bench` can measure it beside
the TypeScript service on the same machine, servers and images.
"""
import csv
import io
import os
from datetime import datetime, timezone

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import StreamingResponse
from pymongo import MongoClient

from tasks import process_images

HEADER = ["S. No.", "Product Name", "Input Image Urls"]

client = MongoClient(os.environ["MONGO_URL"])
requests_collection = client.get_default_database()["processing_requests"]
outputs_collection = client.get_default_database()["product_outputs"]
app = FastAPI(title="Image Processing System (seed design)")


def parse_csv(text: str) -> list:
    """Validates the CSV format (design 4.1) and returns the products."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [cell.strip() for cell in rows[0]] != HEADER:
        raise HTTPException(status_code=400, detail=f"the header must be {','.join(HEADER)}")
    products = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3:
            raise HTTPException(status_code=400, detail=f"line {number}: expected 3 columns")
        try:
            serial_number = int(row[0])
        except ValueError:
            raise HTTPException(status_code=400, detail=f"line {number}: the serial number is not a number")
        urls = [url.strip() for url in row[2].split(",") if url.strip()]
        if not row[1].strip() or not urls:
            raise HTTPException(status_code=400, detail=f"line {number}: a product name and image URLs are required")
        products.append(
            {
                "serial_number": serial_number,
                "product_name": row[1].strip(),
                "input_image_urls": urls,
                "output_image_urls": [],
            }
        )
    if not products:
        raise HTTPException(status_code=400, detail="the CSV has no products")
    return products


@app.post("/api/upload", status_code=202)
async def upload(file: UploadFile = File(...), webhook_url: str = Form(None)):
    try:
        text = (await file.read()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="the CSV must be UTF-8")
    products = parse_csv(text)
    now = datetime.now(timezone.utc)
    document = {
        "status": "pending",
        "created_at": now,
        "updated_at": now,
        "completion_percentage": 0.0,
        "products": products,
        "processed_products": 0,
        "webhook_url": webhook_url,
    }
    request_id = str(requests_collection.insert_one(document).inserted_id)
    process_images.delay(request_id)
    return {"request_id": request_id, "status": "pending"}


def find_request(request_id: str) -> dict:
    try:
        found = requests_collection.find_one({"_id": ObjectId(request_id)})
    except InvalidId:
        found = None
    if found is None:
        raise HTTPException(status_code=404, detail="request not found")
    return found


@app.get("/api/status/{request_id}")
def status(request_id: str):
    found = find_request(request_id)
    return {
        "request_id": request_id,
        "status": found["status"],
        "completion_percentage": found["completion_percentage"],
        "created_at": found["created_at"].isoformat(),
        "updated_at": found["updated_at"].isoformat(),
        "error_message": found.get("error_message"),
    }


@app.get("/api/download/{request_id}")
def download(request_id: str):
    found = find_request(request_id)
    if found["status"] != "completed":
        raise HTTPException(status_code=409, detail="the request is not completed")
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(HEADER + ["Output Image Urls"])
    recorded = {
        entry["_id"]: entry["urls"] for entry in outputs_collection.find({"request_id": request_id})
    }
    for index, product in enumerate(found["products"]):
        urls = recorded.get(f"{request_id}:{index}", [])
        writer.writerow(
            [
                product["serial_number"],
                product["product_name"],
                ", ".join(product["input_image_urls"]),
                ", ".join(url or "" for url in urls),
            ]
        )
    return StreamingResponse(
        iter([output.getvalue()]),
        media_type="text/csv",
        headers={"content-disposition": f"attachment; filename={request_id}.csv"},
    )
