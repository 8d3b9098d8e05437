#!/bin/sh
# Put the certificate in cert.pem and key.pem (written by switcher into the tls volume) where
# nginx loads it per TLS handshake, with no reload: checked to be a pair, written once as
# site-HASH.pem (chain and key; a name whose content never changes), then `current` is renamed
# to point at it (njs/tls.js reads it once per handshake, so the chain and the key nginx opens
# always come from the same file). The previous file is kept for a handshake that read the old
# pointer a moment ago; older ones are removed. site.pem is the same content under a fixed
# name, the fallback when `current` cannot be read. Readable by root and nginx's workers
# (group www-data) only; key.pem stays root's alone. Run by the entrypoint at start, by
# switcher (docker exec, as root) after it stored a new certificate, and by the acme image
# (TLS_MODE=acme) after lego issued one: one install at a time (flock on .install.lock).
set -eu
cd /etc/nginx/tls
exec 9>>.install.lock
flock 9
[ -r cert.pem ] && [ -r key.pem ] || { echo "lb: cert.pem or key.pem is missing (switcher up provides them)" >&2; exit 1; }
cert_key=$(openssl x509 -noout -pubkey -in cert.pem 2>/dev/null) || { echo "lb: cert.pem is not a certificate" >&2; exit 1; }
key_key=$(openssl pkey -pubout -in key.pem 2>/dev/null) || { echo "lb: key.pem is not a private key" >&2; exit 1; }
[ "$cert_key" = "$key_key" ] || { echo "lb: cert.pem and key.pem are not a pair; the certificate in use is kept" >&2; exit 1; }
umask 077
rm -f .site.pem.tmp .current.tmp
{ cat cert.pem; echo; cat key.pem; } > .site.pem.tmp
chgrp www-data .site.pem.tmp
chmod 0640 .site.pem.tmp
name="site-$(sha256sum .site.pem.tmp | cut -c1-16).pem"
cp -p .site.pem.tmp "$name.tmp"
mv "$name.tmp" "$name"
mv .site.pem.tmp site.pem
previous=$(cat current 2>/dev/null || true)
printf '%s\n' "$name" > .current.tmp
chmod 0644 .current.tmp
mv .current.tmp current
for old in site-*.pem; do
  [ "$old" = "$name" ] || [ "$old" = "$previous" ] || rm -f "$old"
done
chgrp www-data .
chmod 0750 .
