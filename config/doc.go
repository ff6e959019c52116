// Package config is vipd's configuration: the command-line flags, the YAML
// config file, and the validation that names the field at fault and its fix.
// A Config it returns is checked against everything that can be known without
// the OS; the daemon resolves interfaces and addresses at run time.
package config
