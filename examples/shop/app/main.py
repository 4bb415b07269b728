import os

from fastapi import BackgroundTasks, FastAPI, UploadFile
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from app import tasks
from app.db import SessionDep

app = FastAPI()


@app.post("/orders/{order_id}")
async def create_order(order_id: int, email: str, db: SessionDep, background_tasks: BackgroundTasks):
    background_tasks.add_task(tasks.send_receipt, email, order_id)
    background_tasks.add_task(tasks.sync_inventory, "sku-1")
    background_tasks.add_task(tasks.record_audit, db, order_id)  # the session is closed by then
    background_tasks.add_task(tasks.record_audit_safely, order_id)
    await background_tasks.add_task(tasks.notify_warehouse, order_id)
    return {"ok": True}


@app.post("/orders/{order_id}/pay")
def pay(order_id: int, card_token: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(tasks.charge, card_token, os.environ["PAYMENT_API_KEY"])
    background_tasks.add_task(tasks.send_receipt("a@example.com", order_id))
    return JSONResponse({"ok": True}, background=BackgroundTask(tasks.notify_warehouse, order_id))


@app.post("/invoices")
async def upload_invoice(file: UploadFile, background_tasks: BackgroundTasks):
    background_tasks.add_task(tasks.send_receipt, file.filename, 0)
    background_tasks.add_task(print, file)  # the upload is closed when the task runs
    return {"name": file.filename}
