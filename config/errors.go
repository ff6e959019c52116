package config

import (
	"errors"
	"fmt"
)

// ErrConfig is wrapped by every error that bad input causes (flags, config file,
// interfaces that don't exist). cmd/vipd exits 2 on it.
var ErrConfig = errors.New("invalid configuration")

// FieldError names a field as the operator wrote it (a flag or a path in the config
// file), what is wrong with its value, and how to fix it.
type FieldError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *FieldError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Field, e.Problem)
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Unwrap makes every FieldError an ErrConfig.
func (e *FieldError) Unwrap() error { return ErrConfig }

// NewFieldError returns a FieldError for field, with the problem formatted
// from format and args, and fix telling the operator what to do.
func NewFieldError(field, fix, format string, args ...any) error {
	return fieldErr(field, fix, format, args...)
}

func fieldErr(field, fix, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...), Fix: fix}
}
