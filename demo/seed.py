"""Create the tables and the demo users on first run; print how to sign in.

``python -m demo.seed`` (run by scripts/demo.sh) is idempotent.
"""

from __future__ import annotations

from sqlmodel import Session, select

from .accounts import hasher
from .db import User, database_url, engine, init_db

DEMO_USERS = (
    ("admin@example.com", "Ada Admin", "admin", "admin-password-123"),
    ("user@example.com", "Uma User", "user", "user-password-123"),
)


def seed() -> None:
    init_db()
    with Session(engine()) as db:
        for email, name, role, password in DEMO_USERS:
            if db.exec(select(User).where(User.email == email)).first() is None:
                db.add(User(email=email, name=name, role=role, password_hash=hasher.hash(password)))
        db.commit()


def main() -> None:
    seed()
    url = database_url()
    shown = url.split("@")[-1] if "@" in url else url
    print(f"demo database: {shown}")
    print("demo users (email / password):")
    for email, _, role, password in DEMO_USERS:
        print(f"  {email:<20} {password:<20} ({role})")


if __name__ == "__main__":
    main()
