#!/usr/bin/env python3
# Appends the hand-written answers to the reboot checks' questions to tests/hosts/e2e-host.json
# (tests/hosts/README.md says why): the simulated host's runs leave the reboot checks out, so a
# regenerated recording has none. Run from the repository's root; it replaces earlier ones.
import json,sys
P='tests/hosts/e2e-host.json'
d=json.load(open(P))
d['answers']=[a for a in d['answers'] if not a.get('check','').startswith('reboot.')]
def add(check, ask, args, ok=None, err=None):
    e={'check':check,'ask':ask,'args':args}
    if err is not None: e['err']=err
    else: e['ok']=ok
    d['answers'].append(e)
CONTAINERD_UNIT="[Unit]\nDescription=containerd for flintlock (containerd-dev)\nAfter=network.target\n\n[Service]\nExecStart=/usr/bin/containerd --config /var/lib/containerd-dev/config.toml\nType=notify\n"
FLINTLOCKD_UNIT="[Unit]\nDescription=flintlockd\nRequires=containerd-dev.service\nAfter=network.target containerd-dev.service\n\n[Service]\nExecStart=/usr/local/bin/flintlockd run --containerd-socket /var/lib/containerd-dev/containerd.sock --grpc-endpoint 0.0.0.0:9090 --insecure\n"
t='reboot.thinpool'
add(t,'fs.glob',{'pattern':'/etc/systemd/system/*.service'},ok=['/etc/systemd/system/containerd-dev.service','/etc/systemd/system/flintlockd.service'])
for dd in ['/usr/local/lib/systemd/system','/usr/lib/systemd/system','/lib/systemd/system']:
    add(t,'fs.glob',{'pattern':dd+'/*.service'},ok=[])
add(t,'fs.read',{'path':'/etc/systemd/system/containerd-dev.service'},ok=CONTAINERD_UNIT)
add(t,'fs.read',{'path':'/etc/systemd/system/flintlockd.service'},ok=FLINTLOCKD_UNIT)
n='reboot.network'
for u in ['NetworkManager','systemd-networkd','networking']:
    add(n,'systemd.unit',{'name':u},ok={'name':u+'.service','load_state':'not-found','active_state':'inactive','sub_state':'dead'})
add(n,'fs.stat',{'path':'/etc/network/interfaces'},err={'kind':'not_found','message':'`/etc/network/interfaces` does not exist'})
for dd in ['/etc/systemd/network','/usr/local/lib/systemd/network','/usr/lib/systemd/network','/lib/systemd/network']:
    add(n,'fs.glob',{'pattern':dd+'/*.netdev'},ok=[])
    add(n,'fs.glob',{'pattern':dd+'/*.network'},ok=[])
for dd in ['/etc/netplan','/lib/netplan']:
    add(n,'fs.glob',{'pattern':dd+'/*.yaml'},ok=[])
add(n,'fs.glob',{'pattern':'/etc/network/interfaces.d/*'},ok=[])
for dd in ['/etc/NetworkManager/system-connections','/usr/lib/NetworkManager/system-connections']:
    add(n,'fs.glob',{'pattern':dd+'/*.nmconnection'},ok=[])
for unit in ['containerd-dev','flintlockd']:
    for dd in ['/etc/systemd/system','/usr/local/lib/systemd/system','/usr/lib/systemd/system','/lib/systemd/system']:
        for kind in ['wants','requires']:
            add('reboot.units','fs.glob',{'pattern':f'{dd}/*.{kind}/{unit}.service'},ok=[])
m='reboot.modules'
add(m,'fs.stat',{'path':'/proc/modules'},err={'kind':'not_found','message':'`/proc/modules` does not exist'})
json.dump(d,open(P,'w'),indent=2)
open(P,'a').write('\n')
