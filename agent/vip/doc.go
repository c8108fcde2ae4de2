// Package vip moves virtual IP and MAC addresses between hosts: it adds and
// removes addresses through netlink, carries a virtual MAC on a macvlan
// interface (RFC 5798 style 00:00:5e:00:01:<id>), and announces takeovers
// with gratuitous ARP (RFC 826 frames, in the request and reply forms of RFC
// 5227) and unsolicited IPv6 neighbour advertisements (RFC 4861 §7.2.6).
//
// The frames are built here over github.com/mdlayher/packet raw sockets;
// github.com/mdlayher/arp and ndp are not available to this project's build.
//
// The driver acts; it never decides. Which host holds a group is the
// manager's decision, carried to the agent with its epoch.
package vip
