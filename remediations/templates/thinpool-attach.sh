#!/bin/sh
# Written by hostscript (remediation thinpool). Run at boot by hostscript-thinpool.service:
# attaches the loop devices of {{ thinpool_name }}'s files and loads its table, as
# provision.sh devpool does once (liquidmetal-dev/flintlock hack/scripts/provision.sh).
set -eu
attach() {
    dev=$(losetup --output NAME --noheadings --associated "$1")
    [ -n "$dev" ] || dev=$(losetup --find --show "$1")
    echo "$dev"
}
data_dev=$(attach "{{ devmapper_dir }}/data")
meta_dev=$(attach "{{ devmapper_dir }}/metadata")
sectors=$(( $(blockdev --getsize64 "$data_dev") / 512 ))
table="0 $sectors thin-pool $meta_dev $data_dev {{ thinpool_block_sectors }} {{ thinpool_low_water_mark }} 1 skip_block_zeroing"
if dmsetup info "{{ thinpool_name }}" >/dev/null 2>&1; then
    dmsetup reload "{{ thinpool_name }}" --table "$table"
    dmsetup resume "{{ thinpool_name }}"
else
    dmsetup create "{{ thinpool_name }}" --table "$table"
fi
