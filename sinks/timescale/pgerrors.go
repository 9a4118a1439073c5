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

// isDecompressionLimit reports whether err is TimescaleDB refusing a
// write that would decompress more tuples than its per-transaction limit
// allows (53400). The staged path raises the limit for its transaction.
func isDecompressionLimit(err error) bool { return pgCode(err) == "53400" }

// isDataError reports whether err is the database refusing the data
// itself (SQLSTATE classes 22, data exception, and 23, integrity
// constraint violation): retrying the same rows cannot succeed.
func isDataError(err error) bool {
	code := pgCode(err)
	return strings.HasPrefix(code, "22") || (strings.HasPrefix(code, "23") && code != "23505")
}

// environmental lists the SQLSTATE classes that describe the database,
// its configuration or the session rather than the rows written: a batch
// that fails with one of them is retried as it is until the database is
// fixed, and never split into dead letters.
var environmental = []string{
	"08", // connection exception
	"25", // invalid transaction state
	"28", // invalid authorization
	"3D", // invalid catalog (database) name
	"3F", // invalid schema name
	"40", // transaction rollback: serialization failure, deadlock
	"42", // syntax error or access rule violation: missing table, privilege
	"53", // insufficient resources: disk full, out of memory, connections (53400 aside)
	"55", // object not in prerequisite state: lock not available
	"57", // operator intervention: statement timeout, shutdown
	"58", // system error: I/O
	"F0", // configuration file error
	"XX", // internal error, corruption
}

// isRowError reports whether err is the server answering the write with
// an error that may belong to some of the rows: a SQLSTATE outside the
// environmental classes (a trigger's RAISE, a program limit such as an
// index row too large, TimescaleDB's 53400). A batch that keeps failing
// with one is split to find the rows (see Config.SplitAfter). Errors
// without a SQLSTATE (the connection, the context) are not row errors.
func isRowError(err error) bool {
	code := pgCode(err)
	if code == "" {
		return false
	}
	if code == "53400" {
		return true
	}
	for _, c := range environmental {
		if strings.HasPrefix(code, c) {
			return false
		}
	}
	return true
}
