//go:build !unix

package store

import (
	"context"
	"database/sql"
)

// lockSQLiteFile is a no-op where flock is unavailable: concurrent first
// Opens of one SQLite file by several processes are then not serialised.
func lockSQLiteFile(context.Context, *sql.DB) (func(), error) { return func() {}, nil }
