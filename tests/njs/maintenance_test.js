// Unit test of nginx/njs/maintenance.js's pure parts, run by tests/unit/test_njs.py with
// Debian's njs (the same engine as the lb's module): `njs -p nginx/njs tests/njs/maintenance_test.js`.
import m from 'maintenance.js';

let failures = 0;
function check(label, got, want) {
    if (got !== want) {
        failures++;
        console.log('FAIL ' + label + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
    }
}

const networks = [
    ['203.0.113.7', '203.0.113.7/32', true], ['203.0.113.8', '203.0.113.7/32', false],
    ['203.0.113.200', '203.0.113.0/24', true], ['203.0.114.1', '203.0.113.0/24', false],
    ['10.1.2.3', '0.0.0.0/0', true], ['10.1.2.3', '10.0.0.0/9', true], ['10.200.2.3', '10.0.0.0/9', false],
    ['2001:db8::1', '2001:db8::/32', true], ['2001:db9::1', '2001:db8::/32', false],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1/128', true], ['::ffff:203.0.113.7', '203.0.113.7/32', true],
    ['fe80::1:2:3:4', 'fe80::/10', true], ['febf::1', 'fe80::/10', true], ['fec0::1', 'fe80::/10', false],
    ['203.0.113.7', '2001:db8::/32', false], ['2001:db8::1', '203.0.113.0/24', false],
    ['203.0.113.7', '203.0.113.7', false], ['203.0.113.7', 'nonsense/8', false], ['203.0.113.7', '203.0.113.7/33', false],
];
networks.forEach(function (c) {
    check(c[0] + ' in ' + c[1], m.parseAddress(c[0]) !== null && m.inNetwork(m.parseAddress(c[0]), c[1]), c[2]);
});
['', '1.2.3', '1.2.3.4.5', '256.1.1.1', 'a::b::c', '1:2:3:4:5:6:7:8:9', 'x', '1.2.3.04a', '::g', '1:2:3:4:5:6:7::8:9']
    .forEach(function (text) { check('parse ' + JSON.stringify(text), m.parseAddress(text), null); });
check('::1', JSON.stringify(m.parseAddress('::1')), '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]');

check('same secret', m.sameSecret('abc', 'abc'), true);
check('other secret', m.sameSecret('abd', 'abc'), false);
check('prefix of the secret', m.sameSecret('ab', 'abc'), false);
check('secret with more', m.sameSecret('abcd', 'abc'), false);
check('empty secret', m.sameSecret('', ''), false);
check('no guess', m.sameSecret(undefined, 'abc'), false);

console.log(failures === 0 ? 'ok' : failures + ' failed');
