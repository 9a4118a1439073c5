package timescale

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool { return pgCode(err) == "23505" }

func isUndefinedTable(err error) bool { return pgCode(err) == "42P01" }

// isDataError reports whether err is the database refusing the data
// itself (SQLSTATE classes 22, data exception, and 23, integrity
// constraint violation): retrying the same rows cannot succeed.
func isDataError(err error) bool {
	code := pgCode(err)
	return strings.HasPrefix(code, "22") || (strings.HasPrefix(code, "23") && code != "23505")
}
