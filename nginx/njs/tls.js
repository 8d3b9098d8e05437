// The certificate nginx loads for a TLS handshake (ssl_certificate and ssl_certificate_key
// name this variable, so nginx loads it per handshake and a new one needs no reload).
//
// Why a pointer and not one fixed file: nginx opens the file twice per handshake, once for
// the chain and once for the key. Had a renewal renamed a new file over the fixed name between
// the two, a handshake would pair the old chain with the new key and fail (measured: 1 of 1077
// new connections under load). So lb-tls-install writes each certificate once, under a name
// of its own that never changes (site-HASH.pem), then renames `current` to point at it; this
// variable is read once per handshake (nginx caches it for both directives), so both opens
// read the same, immutable file.
import fs from 'fs';

const DIR = '/etc/nginx/tls/';
const NAME = /^site-[0-9a-f]{16}\.pem$/;

function certificate(r) {
    try {
        const name = fs.readFileSync(DIR + 'current', 'utf8').trim();
        if (NAME.test(name)) {
            return DIR + name;
        }
    } catch (e) {
        // no pointer yet: the fixed file lb-tls-install also keeps
    }
    return DIR + 'site.pem';
}

export default {certificate};
