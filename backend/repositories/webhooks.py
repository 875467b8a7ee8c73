"""A tenant's webhook endpoints and their deliveries, as the API reads and changes them."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import text

from backend.models.webhooks import WebhookDelivery, WebhookEndpoint
from backend.repositories.pages import View, as_json_text
from backend.repositories.tenant import TenantRepository

ENDPOINT_FIELDS = (
    "id",
    "url",
    "description",
    "event_types",
    "status",
    "consecutive_failures",
    "disabled_reason",
    "created_at",
    "updated_at",
    "version",
)
DELIVERY_FIELDS = (
    "id",
    "endpoint_id",
    "event_id",
    "event_type",
    "status",
    "attempt_count",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "created_at",
    "delivered_at",
)

# Redelivery: pending again at once, whatever it was (dead included); its attempts so far stay.
_RESET = text("""
    UPDATE webhook_deliveries
       SET status = 'pending', next_attempt_at = now()
     WHERE tenant_id = :tenant AND endpoint_id = :endpoint AND id = :id
""")

_ATTEMPTS = text("""
    SELECT attempted_at, status_code, error, duration_ms
      FROM webhook_attempts
     WHERE tenant_id = :tenant AND delivery_id = :id
     ORDER BY id
""")


class WebhookEndpointRepository(TenantRepository[WebhookEndpoint]):
    model_type: ClassVar[type[Any]] = WebhookEndpoint
    entity_name = "webhook endpoint"
    list_view = View.of(WebhookEndpoint, ENDPOINT_FIELDS)


class WebhookDeliveryRepository(TenantRepository[WebhookDelivery]):
    model_type: ClassVar[type[Any]] = WebhookDelivery
    entity_name = "webhook delivery"
    # The column `attempts` is answered as `attempt_count` (`attempts` is the detail's list).
    list_view = View(
        columns=tuple(
            WebhookDelivery.attempts.label("attempt_count")
            if name == "attempt_count"
            else as_json_text(getattr(WebhookDelivery, name))
            for name in DELIVERY_FIELDS
        ),
        joins=(),
        build=lambda row: dict(zip(DELIVERY_FIELDS, row, strict=True)),
    )

    def one(self, endpoint_id: Any, delivery_id: str) -> dict[str, Any] | None:
        """The endpoint's delivery as the list shows it, or None."""
        row = self.read(delivery_id)
        if row is None or str(row["endpoint_id"]) != str(endpoint_id):
            return None
        row = dict(row)
        row["attempt_count"] = row.pop("attempts")
        return row

    def reset(self, endpoint_id: Any, delivery_id: str) -> bool:
        params = {"tenant": self.tenant_id, "endpoint": endpoint_id, "id": delivery_id}
        return bool(self.connection().execute(_RESET, params).rowcount)

    def attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        """Every attempt of the delivery, oldest first."""
        params = {"tenant": self.tenant_id, "id": delivery_id}
        return [dict(row) for row in self.connection().execute(_ATTEMPTS, params).mappings()]
