package backend

import (
	"database/sql"
	"time"

	"github.com/uptrace/bun"
)

var errNoRows = sql.ErrNoRows

type tagRow struct {
	bun.BaseModel `bun:"table:tags"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Name      string    `bun:"name,notnull"`
	Comment   string    `bun:"comment,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

type machineTagRow struct {
	bun.BaseModel `bun:"table:machine_tags"`

	SystemID string `bun:"system_id,pk"`
	TagID    int64  `bun:"tag_id,pk"`
}
