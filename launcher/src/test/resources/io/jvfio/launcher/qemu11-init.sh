#!/bin/busybox sh
# The /init of the guest that Qemu11InteropIT boots under QEMU 11 with jvfio's Java edu device
# attached through QEMU's own vfio-user client (-device vfio-user-pci). No driver binds the device:
# this script checks from inside the guest what a driver relies on, through sysfs (config space,
# resources, reset) and busybox devmem (BAR MMIO, guest RAM), and prints one line per check on the
# serial console:  JVFIO-CHECK <name> PASS|FAIL <detail>, then JVFIO-DONE <passed>/<run>.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "JVFIO-BOOTED $(cut -d' ' -f1 /proc/uptime) s"

# The DMA target: guest RAM the kernel keeps out of its own use (memmap=2M$0x8000000 on the command
# line), below edu's 28-bit DMA mask.
RAM=0x8000000
# An interrupt vector no Linux driver has: x86 Linux allocates device vectors from the bottom of
# 0x20-0xeb, and this guest has a handful of them. A message to it reaches common_interrupt, which
# finds no handler and says so with the CPU and the vector number: "No irq handler for 0.223" in the
# test kernel (Linux 6.12.117: reevaluate_vector() in arch/x86/kernel/irq.c), which 6.1 put as
# "__common_interrupt: 0.223 No irq handler for vector".
VECTOR=223

passed=0
run=0
check() { # name PASS|FAIL detail...
  name=$1
  result=$2
  shift 2
  run=$((run + 1))
  [ "$result" = PASS ] && passed=$((passed + 1))
  echo "JVFIO-CHECK $name $result $*"
}
verdict() { # name condition detail...: PASS if the condition (a shell test expression) holds
  name=$1
  cond=$2
  shift 2
  if eval "$cond"; then check "$name" PASS "$@"; else check "$name" FAIL "$@"; fi
}
hex() { printf '0x%08x' "$(($1))"; }
hex16() { printf '0x%04x' "$(($1))"; }

# Config space through sysfs: reads as little-endian words, writes byte by byte.
cfg() { # offset size(1|2|4)
  v=0
  i=$(($2 - 1))
  while [ $i -ge 0 ]; do
    b=$(od -An -tu1 -j $(($1 + i)) -N 1 "$DEV/config" | tr -d ' ')
    v=$((v * 256 + b))
    i=$((i - 1))
  done
  echo $v
}
cfgw8() { # offset value
  printf "$(printf '\\%03o' $(($2 & 0xff)))" | dd of="$DEV/config" bs=1 seek=$(($1)) count=1 conv=notrunc 2>/dev/null
}
rd() { echo $(($(devmem $(($1)) ${2:-32}))); }  # physical address [width]: value in decimal
wr() { devmem $(($1)) ${3:-32} $(($2)); }        # physical address value [width]
wait_clear() { # address mask: waits (bounded) until the register's bits in mask are clear
  n=0
  while [ $(($(rd $1) & $2)) -ne 0 ]; do
    n=$((n + 1))
    [ $n -ge 2000 ] && return 1
  done
  return 0
}

# ---- find ----
DEV=""
for d in /sys/bus/pci/devices/*; do
  if [ "$(cat $d/vendor)" = 0x1234 ] && [ "$(cat $d/device)" = 0x11e8 ]; then DEV=$d; fi
done
if [ -z "$DEV" ]; then
  check find FAIL "no device 1234:11e8 on the guest's PCI buses: $(cat /sys/bus/pci/devices/*/vendor | tr '\n' ' ')"
  echo "JVFIO-DONE $passed/$run"
  poweroff -f
fi
BDF=${DEV##*/}
check find PASS "1234:11e8 at $BDF, driver: $( [ -e $DEV/driver ] && basename $(readlink $DEV/driver) || echo none)"

# ---- identity ----
rev=$(cfg 0x08 1)
svid=$(cfg 0x2c 2)
sdid=$(cfg 0x2e 2)
verdict ids "[ $(cfg 0 2) = $((0x1234)) ] && [ $(cfg 2 2) = $((0x11e8)) ] && [ $rev = 16 ] && [ $svid = $((0x1af4)) ] && [ $sdid = $((0x1100)) ]" \
  "vendor $(cat $DEV/vendor) device $(cat $DEV/device) revision $(printf 0x%02x $rev) subsystem $(hex16 $svid):$(hex16 $sdid)"
verdict class "[ $(cat $DEV/class) = 0x00ff00 ] && [ $(cfg 0x09 3) = $((0x00ff00)) ]" \
  "sysfs $(cat $DEV/class), config $(printf 0x%06x $(cfg 0x09 3)) (unclassified device, subclass 0xff)"

# ---- capabilities: walk the list from 0x34 ----
caps=""
msi=0
msix=0
pos=0
[ $(($(cfg 0x06 2) & 0x10)) -ne 0 ] && pos=$(($(cfg 0x34 1) & 0xfc))
hops=0
while [ $pos -ne 0 ] && [ $hops -lt 48 ]; do
  id=$(cfg $pos 1)
  caps="$caps $(printf '0x%02x@0x%02x' $id $pos)"
  [ $id = 5 ] && msi=$pos
  [ $id = 17 ] && msix=$pos
  pos=$(($(cfg $((pos + 1)) 1) & 0xfc))
  hops=$((hops + 1))
done
if [ $msi -ne 0 ]; then
  mflags=$(cfg $((msi + 2)) 2)
  # 64-bit address (bit 7), one vector (multiple message capable 0), no per-vector masking (bit 8), disabled.
  verdict cap-msi "[ $mflags = $((0x0080)) ]" "MSI at $(printf 0x%02x $msi): flags $(hex16 $mflags) (64-bit, 1 vector, not maskable, disabled)"
else
  check cap-msi FAIL "no MSI capability in the list:$caps"
fi
if [ $msix -ne 0 ]; then
  xflags=$(cfg $((msix + 2)) 2)
  table=$(cfg $((msix + 4)) 4)
  pba=$(cfg $((msix + 8)) 4)
  TABLE_BIR=$((table & 7))
  TABLE_OFF=$((table & ~7))
  PBA_BIR=$((pba & 7))
  PBA_OFF=$((pba & ~7))
  verdict cap-msix "[ $xflags = 7 ] && [ $TABLE_BIR = 1 ] && [ $TABLE_OFF = 0 ] && [ $PBA_BIR = 1 ] && [ $PBA_OFF = $((0x800)) ]" \
    "MSI-X at $(printf 0x%02x $msix): $(( (xflags & 0x7ff) + 1)) vectors, disabled, table BAR$TABLE_BIR+$(hex $TABLE_OFF), PBA BAR$PBA_BIR+$(hex $PBA_OFF)"
else
  check cap-msix FAIL "no MSI-X capability in the list:$caps"
fi
verdict caps "[ $msi -ne 0 ] && [ $msix -ne 0 ] && [ $hops -lt 48 ]" "the list:$caps"

# ---- BARs: sizes, types, placed by Linux inside the host bridge's windows ----
bar() { sed -n "$(($1 + 1))p" $DEV/resource; } # start end flags
windows=$(awk '/^[0-9a-f]+-[0-9a-f]+ : PCI Bus 0000:00$/ { print $1 }' /proc/iomem)
in_window() { # start end
  for w in $windows; do
    ws=$((0x${w%-*}))
    we=$((0x${w#*-}))
    [ $1 -ge $ws ] && [ $2 -le $we ] && return 0
  done
  return 1
}
bars_ok=1
bars_detail=""
for spec in "0 $((1 << 20)) 0x0" "1 4096 0x0" "2 $((1 << 20)) 0xc"; do
  set -- $spec
  set -- $(bar $1) $1 $2 $3
  start=$(($1))
  end=$(($2))
  i=$4
  want=$5
  size=$((end - start + 1))
  low=$(cfg $((0x10 + 4 * i)) 4)
  type=$((low & 0xf))
  ok=1
  [ $start -ne 0 ] || ok=0
  [ $size -eq $want ] || ok=0
  [ $((start % want)) -eq 0 ] || ok=0
  [ $type -eq $(($6)) ] || ok=0
  [ $((low & ~0xf)) -eq $((start & 0xffffffff)) ] || ok=0
  in_window $start $end || ok=0
  [ $ok = 1 ] || bars_ok=0
  bars_detail="$bars_detail${bars_detail:+; }BAR$i $(hex $start)+$size type $type"
  eval BAR$i=$start
done
verdict bars "[ $bars_ok = 1 ]" "$bars_detail (sizes 1M/4K/1M, aligned, inside the windows $(echo $windows | tr ' ' ','))"

# Memory decoding and bus mastering (for DMA and MSI-X), as a driver's pci_enable_device and
# pci_set_master do.
cfgw8 0x04 $(($(cfg 0x04 1) | 0x06))
verdict command "[ $(($(cfg 0x04 2) & 0x06)) = 6 ]" "command register $(hex16 $(cfg 0x04 2)) (memory space and bus master on)"

# ---- registers ----
id=$(rd $BAR0)
verdict id "[ $id = $((0x010000ed)) ]" "BAR0+0x00 reads $(hex $id)"
wr $((BAR0 + 4)) 0x12345678
l1=$(rd $((BAR0 + 4)))
wr $((BAR0 + 4)) 0xa5a5f00f
l2=$(rd $((BAR0 + 4)))
verdict liveness "[ $l1 = $((0xedcba987)) ] && [ $l2 = $((0x5a5a0ff0)) ]" \
  "wrote 0x12345678 and 0xa5a5f00f, read back $(hex $l1) and $(hex $l2) (inverted)"
fact() { # n: the device's n!
  wr $((BAR0 + 8)) $1
  wait_clear $((BAR0 + 0x20)) 1 || { echo timeout; return; }
  rd $((BAR0 + 8))
}
f5=$(fact 5)
f12=$(fact 12)
verdict factorial "[ '$f5' = 120 ] && [ '$f12' = 479001600 ]" "5! = $f5, 12! = $f12"

# ---- BAR2: memory the server shares through a memfd that QEMU maps ----
bar2_ok=1
bar2_detail=""
for off in 0 0x4 0x1000 0x7fff8 0x80000 0xffffc; do
  p=$(( (0x5a000000 + off * 7 + 0x1234567) & 0xffffffff ))
  wr $((BAR2 + off)) $p
done
for off in 0 0x4 0x1000 0x7fff8 0x80000 0xffffc; do
  p=$(( (0x5a000000 + off * 7 + 0x1234567) & 0xffffffff ))
  got=$(rd $((BAR2 + off)))
  [ $got = $p ] || { bar2_ok=0; bar2_detail="$bar2_detail +$off wrote $(hex $p) read $(hex $got);"; }
done
wr $((BAR2 + 0x10)) 0x0123456789abcdef 64
q=$(devmem $((BAR2 + 0x10)) 64)
b=$(rd $((BAR2 + 0x13)) 8)
[ "$q" = 0x0123456789ABCDEF ] && [ $b = $((0x89)) ] || { bar2_ok=0; bar2_detail="$bar2_detail 64-bit +0x10 read $q, byte +0x13 $(printf 0x%02x $b);"; }
verdict bar2 "[ $bar2_ok = 1 ]" "32-bit patterns at 6 offsets 0-0xffffc, a 64-bit word and a byte of it read back${bar2_detail}"

# ---- DMA both ways through the reserved RAM ----
WORDS=32
i=0
while [ $i -lt $WORDS ]; do
  wr $((RAM + 4 * i)) $(( (0x13570000 + i * 0x10203) & 0xffffffff ))
  wr $((BAR0 + 0x40000 + 4 * i)) 0
  i=$((i + 1))
done
wr $((BAR0 + 0x40000 + 4 * WORDS)) 0xdeadbeef # just past the transfer: must stay
dma() { # src dst count direction(0 RAM->device, 2 device->RAM)
  wr $((BAR0 + 0x80)) $1 64
  wr $((BAR0 + 0x88)) $2 64
  wr $((BAR0 + 0x90)) $3 64
  wr $((BAR0 + 0x98)) $((1 | $4)) 64
  wait_clear $((BAR0 + 0x98)) 1
}
if dma $RAM 0x40000 $((4 * WORDS)) 0; then
  bad=0
  i=0
  while [ $i -lt $WORDS ]; do
    [ $(rd $((BAR0 + 0x40000 + 4 * i))) = $(( (0x13570000 + i * 0x10203) & 0xffffffff )) ] || bad=$((bad + 1))
    i=$((i + 1))
  done
  after=$(rd $((BAR0 + 0x40000 + 4 * WORDS)))
  verdict dma-to-device "[ $bad = 0 ] && [ $after = $((0xdeadbeef)) ]" \
    "$((4 * WORDS)) bytes from guest RAM $(hex $RAM) to the device buffer 0x40000: $bad words differ; the word after: $(hex $after)"
else
  check dma-to-device FAIL "the DMA command register still reads $(hex $(rd $((BAR0 + 0x98)))) (running)"
fi
OUT=$((RAM + 0x10000))
i=0
while [ $i -le $WORDS ]; do
  wr $((OUT + 4 * i)) 0xcccccccc
  i=$((i + 1))
done
if dma 0x40000 $OUT $((4 * WORDS)) 2; then
  bad=0
  i=0
  while [ $i -lt $WORDS ]; do
    [ $(rd $((OUT + 4 * i))) = $(( (0x13570000 + i * 0x10203) & 0xffffffff )) ] || bad=$((bad + 1))
    i=$((i + 1))
  done
  after=$(rd $((OUT + 4 * WORDS)))
  verdict dma-to-ram "[ $bad = 0 ] && [ $after = $((0xcccccccc)) ]" \
    "$((4 * WORDS)) bytes from the device buffer back to guest RAM $(hex $OUT): $bad words differ; the word after: $(hex $after)"
else
  check dma-to-ram FAIL "the DMA command register still reads $(hex $(rd $((BAR0 + 0x98)))) (running)"
fi

# ---- MSI-X: a message to an unhandled vector, and the PBA while the function is masked ----
TABLE=$((BAR1 + TABLE_OFF))
PBA=$((BAR1 + PBA_OFF))
delivered() { # how many times the vector was taken without a handler
  dmesg | grep -c -e "No irq handler for [0-9]*\.$VECTOR\$" -e "[0-9]\.$VECTOR No irq handler for vector"
}
wait_delivered() { # count: waits (bounded) until the vector was taken count times
  n=0
  while [ $(delivered) -lt $1 ]; do
    n=$((n + 1))
    [ $n -ge 500 ] && return 1
  done
  return 0
}
before=$(delivered)
wr $((TABLE + 0)) 0xfee00000 # to the local APIC of CPU 0, fixed delivery, edge
wr $((TABLE + 4)) 0
wr $((TABLE + 8)) $VECTOR
wr $((TABLE + 12)) 1           # vector 0 stays masked while MSI-X is enabled
cfgw8 $((msix + 3)) 0xc0       # MSI-X Enable with the Function Mask set, as Linux enables it
cfgw8 $((msix + 3)) 0x80       # Function Mask clear
wr $((TABLE + 12)) 0           # vector 0 unmasked
wr $((BAR0 + 0x60)) 1          # edu raises its interrupt: MSI-X vector 0
wait_delivered $((before + 1))
got=$(($(delivered) - before))
wr $((BAR0 + 0x64)) 1
verdict msix "[ $got = 1 ]" "edu's interrupt went out as MSI-X vector 0 to CPU vector $VECTOR: taken $got time(s) (\"No irq handler for 0.$VECTOR\" from the guest kernel)"

cfgw8 $((msix + 3)) 0xc0       # Function Mask set
wr $((BAR0 + 0x60)) 1          # raised while masked: pending, not sent
pba_masked=$(rd $PBA)
still=$(($(delivered) - before))
cfgw8 $((msix + 3)) 0x80       # Function Mask clear: the pending message goes out
wait_delivered $((before + 2))
got=$(($(delivered) - before))
pba_after=$(rd $PBA)
wr $((BAR0 + 0x64)) 1
verdict msix-pba "[ $((pba_masked & 1)) = 1 ] && [ $still = 1 ] && [ $got = 2 ] && [ $((pba_after & 1)) = 0 ]" \
  "raised under the Function Mask: PBA $(hex $pba_masked), not sent ($still in all); unmasked: sent ($got in all), PBA $(hex $pba_after)"
cfgw8 $((msix + 3)) 0x00       # MSI-X off again

# ---- MSI: the message written into the capability, QEMU's emulation of it, the server's eventfd ----
before=$(delivered)
for b in 0 1 2 3; do cfgw8 $((msi + 4 + b)) $(( (0xfee00000 >> (8 * b)) & 0xff )); done # address, CPU 0
for b in 0 1 2 3; do cfgw8 $((msi + 8 + b)) 0; done                                   # upper address
cfgw8 $((msi + 12)) $VECTOR                                                          # data: the vector
cfgw8 $((msi + 13)) 0
cfgw8 $((msi + 2)) 0x81                                                              # MSI Enable
wr $((BAR0 + 0x60)) 1
wait_delivered $((before + 1))
got=$(($(delivered) - before))
wr $((BAR0 + 0x64)) 1
mflags=$(cfg $((msi + 2)) 2)
cfgw8 $((msi + 2)) 0x80                                                              # MSI off again
verdict msi "[ $got = 1 ] && [ $((mflags & 1)) = 1 ]" "edu's interrupt went out as MSI to CPU vector $VECTOR: taken $got time(s); MSI flags $(hex16 $mflags)"

# ---- reset: the sysfs reset file, through QEMU to VFIO_USER_DEVICE_RESET ----
methods=$(cat $DEV/reset_method 2>/dev/null)
wr $((BAR0 + 4)) 0x0f0f0f0f
wr $((BAR0 + 0x80)) 0x8000000 64
wr $((BAR0 + 0x40000)) 0x11223344
fact 3 >/dev/null
pre="liveness $(hex $(rd $((BAR0 + 4)))) factorial $(rd $((BAR0 + 8))) dma.src $(hex $(rd $((BAR0 + 0x80)))) buffer $(hex $(rd $((BAR0 + 0x40000))))"
if [ -w $DEV/reset ] && echo 1 > $DEV/reset; then
  live=$(rd $((BAR0 + 4)))
  fac=$(rd $((BAR0 + 8)))
  src=$(rd $((BAR0 + 0x80)))
  buf=$(rd $((BAR0 + 0x40000)))
  idr=$(rd $BAR0)
  verdict reset "[ $live = $((0xffffffff)) ] && [ $fac = 0 ] && [ $src = 0 ] && [ $buf = 0 ] && [ $idr = $((0x010000ed)) ]" \
    "by $methods; before: $pre; after: liveness $(hex $live) factorial $fac dma.src $(hex $src) buffer $(hex $buf), id $(hex $idr)"
else
  check reset FAIL "no reset through sysfs (reset_method: '${methods}')"
fi

echo "JVFIO-DONE $passed/$run"
poweroff -f
