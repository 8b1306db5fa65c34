-- Budgets, the alerts their thresholds raise, and webhook deliveries.
-- The unique key of alerts is what makes each crossing recorded once.

CREATE TABLE budgets (
    org INTEGER NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL, -- the stored Budget as JSON
    PRIMARY KEY (org, id)
) WITHOUT ROWID;

CREATE TABLE alerts (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    budget_id TEXT NOT NULL,
    threshold_ppm INTEGER NOT NULL,
    period_from INTEGER NOT NULL,
    body TEXT NOT NULL, -- the stored Alert as JSON
    PRIMARY KEY (org, id),
    UNIQUE (org, budget_id, threshold_ppm, period_from)
);

CREATE TABLE webhook_deliveries (
    org INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    alert_id INTEGER NOT NULL,
    body TEXT NOT NULL, -- the stored Delivery as JSON
    PRIMARY KEY (org, seq)
) WITHOUT ROWID;
