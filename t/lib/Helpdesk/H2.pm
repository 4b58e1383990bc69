package Helpdesk::H2;

# A bare HTTP/2 client over cleartext (prior knowledge), its frames made
# by hand, for what a well-behaved library will not do: reset a stream in
# the middle of an event, stop reading (a flow-control window the test
# chooses and never gives back), open many streams on one connection and
# drop it.
#
#   my $h2 = Helpdesk::H2->new($port, window => 0, hold => 1);
#   my $id = $h2->get('/chat/v1/sse?tenant=acme', origin => $origin);
#   $h2->pump(sub { $h2->stream($id)->{status} }, 5);
#   $h2->reset($id);
#
# Requests carry their headers as HPACK literals (never indexed, never
# Huffman-coded); of a response's headers only :status is read (nginx
# sends it first, indexed or as a literal with its indexed name).

use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

use constant {
    DATA => 0, HEADERS => 1, RST_STREAM => 3, SETTINGS => 4, PING => 6,
    GOAWAY => 7, WINDOW_UPDATE => 8,
};

my %STATUS = (0x88 => 200, 0x89 => 204, 0x8a => 206, 0x8b => 304,
              0x8c => 400, 0x8d => 404, 0x8e => 500);

# window: the streams' initial window (SETTINGS_INITIAL_WINDOW_SIZE);
# hold: what DATA is read is not given back (WINDOW_UPDATE) by itself
sub new {
    my ($class, $port, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
        or die "connect: $!";
    binmode $s;
    my $self = bless { s => $s, port => $port, next => 1, buf => '', streams => {},
                       hold => $o{hold} // 0, received => 0 }, $class;
    $self->write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    $self->frame(SETTINGS, 0, 0, pack('nN', 4, $o{window} // (1 << 20)));
    # the connection's own window, which SETTINGS does not change
    $self->frame(WINDOW_UPDATE, 0, 0, pack('N', 16 << 20));
    return $self;
}

sub write {
    my ($self, $bytes) = @_;
    while (length $bytes) {
        my $n = syswrite($self->{s}, $bytes);
        return unless defined $n;
        substr($bytes, 0, $n) = '';
    }
}

sub frame {
    my ($self, $type, $flags, $sid, $payload) = @_;
    my $len = length $payload;
    $self->write(pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $sid) . $payload);
}

sub _int {
    my ($bits, $v) = @_;
    my $max = (1 << $bits) - 1;
    return chr($v) if $v < $max;
    my $o = chr($max);
    $v -= $max;
    while ($v >= 128) { $o .= chr($v % 128 + 128); $v = int($v / 128) }
    return $o . chr($v);
}

sub _str { _int(7, length $_[0]) . $_[0] }

# A GET, its headers in one frame, no body: the stream's id
sub get {
    my ($self, $path, %h) = @_;
    my $id = $self->{next};
    $self->{next} += 2;
    my $block = join '', map { "\x00" . _str($_->[0]) . _str($_->[1]) }
        [':method', 'GET'], [':scheme', 'http'], [':path', $path],
        [':authority', "127.0.0.1:$self->{port}"],
        map { [lc $_, $h{$_}] } sort keys %h;
    $self->{streams}{$id} = { data => '', status => undef, ended => 0, reset => undef };
    $self->frame(HEADERS, 0x5, $id, $block);    # END_STREAM, END_HEADERS
    return $id;
}

sub stream { $_[0]{streams}{$_[1]} }

# RST_STREAM, CANCEL by default (what a browser sends for a closed tab)
sub reset {
    my ($self, $id, $code) = @_;
    $self->frame(RST_STREAM, 0, $id, pack('N', $code // 8));
}

sub window {
    my ($self, $id, $n) = @_;
    $self->frame(WINDOW_UPDATE, 0, $id, pack('N', $n));
}

# Reads frames until $until->() is true or $secs pass: what $until says.
sub pump {
    my ($self, $until, $secs) = @_;
    my $end = time + ($secs // 5);
    my $sel = IO::Select->new($self->{s});
    until ($until->()) {
        my $left = $end - time;
        last if $left <= 0 || $self->{eof};
        next unless $sel->can_read($left < 0.2 ? $left : 0.2);
        my $n = sysread($self->{s}, my $b, 65536);
        if (!$n) { $self->{eof} = 1; last }
        $self->{buf} .= $b;
        $self->_frames;
    }
    return $until->();
}

sub _frames {
    my ($self) = @_;
    while (length $self->{buf} >= 9) {
        my ($l1, $l2, $type, $flags, $sid) = unpack('CnCCN', $self->{buf});
        my $len = ($l1 << 16) | $l2;
        last if length $self->{buf} < 9 + $len;
        my $p = substr($self->{buf}, 9, $len);
        substr($self->{buf}, 0, 9 + $len) = '';
        $sid &= 0x7fffffff;
        my $st = $self->{streams}{$sid};

        if ($type == DATA) {
            $p = substr($p, 1, length($p) - 1 - ord $p) if $flags & 0x8;
            $self->{received} += $len;
            if ($st) {
                $st->{data} .= $p;
                $st->{ended} = 1 if $flags & 0x1;
            }
            if ($len && !$self->{hold}) {
                $self->window(0, $len);
                $self->window($sid, $len) if $st && !$st->{ended};
            }

        } elsif ($type == HEADERS && $st) {
            $p = substr($p, 5) if $flags & 0x20;        # PRIORITY
            my $first = ord $p;
            $st->{status} = $first == 0x48 ? substr($p, 2, 3) : $STATUS{$first} // 'other';
            $st->{ended} = 1 if $flags & 0x1;

        } elsif ($type == RST_STREAM && $st) {
            $st->{reset} = unpack('N', $p);
            $st->{ended} = 1;

        } elsif ($type == SETTINGS) {
            $self->frame(SETTINGS, 0x1, 0, '') unless $flags & 0x1;

        } elsif ($type == PING) {
            $self->frame(PING, 0x1, 0, $p) unless $flags & 0x1;

        } elsif ($type == GOAWAY) {
            $self->{goaway} = unpack('N', substr($p, 4, 4));
        }
    }
}

sub close {
    my ($self) = @_;
    close $self->{s};
}

1;
