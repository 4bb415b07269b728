"""Background work of the shop."""

import os
import time

import requests
from sqlalchemy.orm import Session

from app.db import SessionLocal


def send_receipt(email: str, order_id: int) -> None:
    time.sleep(1)  # a sync task: Starlette runs it in the threadpool, this is fine
    print("receipt for", order_id, "to", email)


async def sync_inventory(sku: str) -> None:
    # an async task: this blocks the event loop of the whole worker
    requests.post("https://inventory.invalid/sync", json={"sku": sku}, timeout=5)
    time.sleep(2)


async def notify_warehouse(order_id: int) -> None:
    print("warehouse notified", order_id)


def record_audit(db: Session, order_id: int) -> None:
    db.execute("insert into audit values (:id)", {"id": order_id})
    db.commit()


def record_audit_safely(order_id: int) -> None:
    with SessionLocal() as db:  # a session opened inside the task: fine
        db.execute("insert into audit values (:id)", {"id": order_id})
        db.commit()


def charge(card_token: str, api_key: str) -> None:
    print("charging", card_token, len(api_key))


def api_key() -> str:
    return os.environ["PAYMENT_API_KEY"]
