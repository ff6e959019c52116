// Package keepalived converts a keepalived.conf (its VRRP part: vrrp_instance,
// vrrp_script, global_defs) into a vipd config file, and says what it dropped
// or changed, and why.
package keepalived
