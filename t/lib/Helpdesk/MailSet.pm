package Helpdesk::MailSet;

# Generated mail for the email benchmarks (t/bench/email.pl): a mailbox's
# worth of messages in the shapes customers send, and a few single
# messages of given sizes for the parser's time per MB.  Deterministic
# (its own pseudo-random sequence), CRLF line ends as IMAP serves them.
#
#   my $set = Helpdesk::MailSet->new(count => 10_000, domain => 'acme.test');
#   $set->write_dir($dir);          # $dir/00001.eml ... in order
#   $set->mails                     # [{ id, kind, root, file, subject, text, from }]
#   $set->expected                  # { new, reply, auto, ... }
#   Helpdesk::MailSet::sized($kind, $to)   # 'text10k', 'html1m', 'att20m'
#
# The mix: 5 % auto-replies ("Out of office", Auto-Submitted), 25 %
# replies to a mail at least 50 places earlier (In-Reply-To, References,
# "Re:", the quoted history under "On ... wrote:"; half of them in
# Outlook's multipart/alternative), and new mail: 45 % plain text, 40 %
# multipart/alternative (Gmail's shape, quoted-printable), 15 % with a
# small attachment (a 12-40 KB PDF, base64).  Senders are 2,000
# customers; a reply comes from the sender of the mail it answers.

use strict;
use warnings;

use MIME::Base64 qw(encode_base64);
use MIME::QuotedPrint qw(encode_qp);
use File::Path qw(make_path);

my @WORDS = qw(order invoice payment account password login access printer
    delivery refund shipping address tracking number error screen update
    version mobile app browser billing subscription plan upgrade cancel
    week yesterday today morning still again please help thanks urgent
    customer support team problem question issue working broken slow
    page report export import settings email message phone contract);

my @SUBJECTS = ('Problem with my order', 'Cannot log in', 'Invoice question',
    'Refund request', 'Delivery is late', 'Printer does not print',
    'Change of address', 'App crashes on start', 'Export fails',
    'Question about the plan');

# a small linear congruential generator: the same set every run
sub _rng {
    my ($self, $n) = @_;
    $self->{seed} = ($self->{seed} * 1103515245 + 12345) % 2147483648;
    return int($self->{seed} / 65536) % $n;
}

sub _words {
    my ($self, $n) = @_;
    my @w = map { $WORDS[$self->_rng(scalar @WORDS)] } 1 .. $n;
    my $s = join ' ', @w;
    $s =~ s/(\S+(?: \S+){11}) /$1\n/g;      # lines of 12 words
    return ucfirst($s) . '.';
}

sub _crlf { (my $s = $_[0]) =~ s/\r?\n/\r\n/g; return $s }

sub new {
    my ($class, %opt) = @_;
    my $self = bless { count => $opt{count} // 10_000, domain => $opt{domain} // 'acme.test',
                       seed => $opt{seed} // 12345, set => $opt{seed} // 12345, mails => [] }, $class;
    # bytes for attachments, sliced (random enough, and cheap)
    $self->{blob} = join '', map { chr($self->_rng(256)) } 1 .. 65536;
    $self->_generate;
    return $self;
}

sub mails { $_[0]{mails} }

sub _generate {
    my ($self) = @_;
    my $n = $self->{count};
    my $to = "support\@$self->{domain}";
    my (@mails, @earlier, %count);
    my $next = 0;
    for my $i (1 .. $n) {
        my $r = $self->_rng(100);
        my $kind = $r < 5 ? 'auto' : $r < 30 ? 'reply' : 'new';
        # what may be answered: mail at least 50 places earlier, not an
        # auto-reply; nothing yet: new
        while ($next <= $#mails - 50) {
            push @earlier, $next unless $mails[$next]{kind} eq 'auto';
            $next++;
        }
        $kind = 'new' if $kind ne 'new' && !@earlier;
        my $id = sprintf '%05d.%d@mail.customer.example', $i, $self->{set};
        my $date = sprintf 'Mon, 30 Nov 2026 %02d:%02d:%02d -0300', 8 + int($i / 3600) % 12,
                           int($i / 60) % 60, $i % 60;
        my ($m, $raw);
        if ($kind eq 'new') {
            my $c = $self->_rng(2000);
            my $from = "c$c\@customer" . ($c % 50) . '.example';
            my $subject = $SUBJECTS[$self->_rng(scalar @SUBJECTS)] . " #$i";
            my $text = "Hello,\n\n" . $self->_words(30 + $self->_rng(120)) . "\n\n"
                     . $self->_words(10 + $self->_rng(40)) . "\n\nRegards,\nCustomer $c\n";
            $m = { id => $id, kind => 'new', root => $id, from => $from, name => "Customer $c",
                   subject => $subject, text => $text, refs => [] };
            my $shape = $self->_rng(100);
            $m->{shape} = $shape < 45 ? 'plain' : $shape < 85 ? 'alternative' : 'attachment';
        } elsif ($kind eq 'reply') {
            my $p = $mails[$earlier[$self->_rng(scalar @earlier)]];
            my $text = $self->_words(8 + $self->_rng(40)) . "\n\nThanks,\n$p->{name}\n\n"
                     . "On Mon, 30 Nov 2026 at 10:00, $p->{name} <$p->{from}> wrote:\n"
                     . join('', map { "> $_\n" } split /\n/, $p->{text});
            (my $subject = $p->{subject}) =~ s/^(?:Re: )*/Re: /;
            $m = { id => $id, kind => 'reply', root => $p->{root}, parent => $p->{id},
                   from => $p->{from}, name => $p->{name}, subject => $subject, text => $text,
                   refs => [ @{ $p->{refs} }, $p->{id} ],
                   shape => $self->_rng(2) ? 'plain' : 'outlook' };
        } else {
            my $p = $mails[$earlier[$self->_rng(scalar @earlier)]];
            $m = { id => $id, kind => 'auto', from => $p->{from}, name => $p->{name},
                   subject => "Out of office: $p->{subject}", refs => [],
                   text => "I am out of the office until Monday.\nFor urgent matters call the front desk.\n",
                   shape => 'auto' };
        }
        $count{$m->{kind}}++;
        $count{"shape_$m->{shape}"}++;
        $m->{raw} = _crlf($self->_raw($m, $to, $date));
        push @mails, $m;
    }
    $self->{mails} = \@mails;
    $self->{expected} = \%count;
}

sub expected { $_[0]{expected} }

sub _html {
    my ($text) = @_;
    my $h = $text;
    $h =~ s/&/&amp;/g;
    $h =~ s/</&lt;/g;
    $h =~ s/>/&gt;/g;
    return '<div dir="ltr">' . join('', map { "<div>$_</div>" } split /\n/, $h) . "</div>\n";
}

sub _raw {
    my ($self, $m, $to, $date) = @_;
    my $head = "From: $m->{name} <$m->{from}>\nTo: $to\nSubject: $m->{subject}\n"
             . "Date: $date\nMessage-ID: <$m->{id}>\nMIME-Version: 1.0\n";
    if ($m->{parent}) {
        $head .= "In-Reply-To: <$m->{parent}>\nReferences: "
               . join(' ', map { "<$_>" } @{ $m->{refs} }) . "\n";
    }
    my $b = "b" . substr($m->{id}, 0, 5) . 'x' x 8;
    my $qp = encode_qp($m->{text});
    my $shape = $m->{shape};
    if ($shape eq 'plain') {
        return $head . "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n$m->{text}";
    }
    if ($shape eq 'auto') {
        return $head . "Auto-Submitted: auto-replied\nX-Autoreply: yes\n"
             . "Content-Type: text/plain; charset=us-ascii\n\n$m->{text}";
    }
    my $alt = "--$b\nContent-Type: text/plain; charset=\"UTF-8\"\nContent-Transfer-Encoding: quoted-printable\n\n"
            . "$qp\n--$b\nContent-Type: text/html; charset=\"UTF-8\"\nContent-Transfer-Encoding: quoted-printable\n\n"
            . encode_qp(_html($m->{text})) . "\n--$b--\n";
    if ($shape eq 'alternative' || $shape eq 'outlook') {
        $head .= "Thread-Topic: $m->{subject}\nAccept-Language: en-US\n" if $shape eq 'outlook';
        return $head . "Content-Type: multipart/alternative; boundary=\"$b\"\n\n$alt";
    }
    # a small attachment
    my $size = 12 * 1024 + $self->_rng(28 * 1024);
    my $off = $self->_rng(65536 - 8);
    my $pdf = "%PDF-1.4\n" . substr($self->{blob} x 2, $off, $size);
    return $head . "Content-Type: multipart/mixed; boundary=\"m$b\"\n\n"
         . "--m$b\nContent-Type: multipart/alternative; boundary=\"$b\"\n\n$alt"
         . "--m$b\nContent-Type: application/pdf; name=\"scan.pdf\"\n"
         . "Content-Disposition: attachment; filename=\"scan.pdf\"\nContent-Transfer-Encoding: base64\n\n"
         . encode_base64($pdf) . "--m$b--\n";
}

# Writes each mail to $dir/NNNNN.eml; returns the files in order.
sub write_dir {
    my ($self, $dir) = @_;
    make_path($dir);
    my $k = 0;
    for my $m (@{ $self->{mails} }) {
        my $f = sprintf '%s/%05d.eml', $dir, ++$k;
        open my $fh, '>:raw', $f or die "$f: $!";
        print $fh $m->{raw};
        close $fh;
        $m->{file} = $f;
    }
    return map { $_->{file} } @{ $self->{mails} };
}

# One message of a given shape for the parser's figures, written to $file:
#   text10k  a plain text mail of ~10 KB (quoted-printable, UTF-8)
#   html1m   Apple Mail's shape: text, and HTML with three inline images
#            (multipart/related, base64), ~1 MB
#   att20m   a short text and a 20 MB attachment (base64), ~27 MB
sub sized {
    my ($kind, $file) = @_;
    my $gen = __PACKAGE__->new(count => 0);
    my $head = "From: Beatriz Rocha <bia\@icloud.example>\nTo: support\@acme.test\n"
             . "Subject: =?utf-8?Q?Impressora_n=C3=A3o_imprime?=\nDate: Mon, 30 Nov 2026 11:30:00 -0300\n"
             . "Message-ID: <$kind\@icloud.example>\nMIME-Version: 1.0\n";
    my $raw;
    if ($kind eq 'text10k') {
        my $text = '';
        $text .= "Olá, " . $gen->_words(20) . "\n\n" while length($text) < 10 * 1024 - 200;
        $raw = $head . "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
             . encode_qp($text);
    } elsif ($kind eq 'html1m') {
        my $text = "The printer shows these errors:\n\n" . $gen->_words(200);
        my $html = '<html><body>' . _html($text)
                 . join('', map { qq{<img src="cid:img$_\@icloud.example" alt="screenshot $_"><br>} } 1 .. 3)
                 . '</body></html>';
        my $imgs = '';
        for my $i (1 .. 3) {
            my $png = "\x89PNG\r\n\x1a\n" . substr($gen->{blob} x 5, $i * 97, 250 * 1024);
            $imgs .= "--rel\nContent-Type: image/png; name=\"erro$i.png\"\nContent-Disposition: inline; filename=erro$i.png\n"
                   . "Content-Id: <img$i\@icloud.example>\nContent-Transfer-Encoding: base64\n\n" . encode_base64($png);
        }
        $raw = $head . "Content-Type: multipart/alternative; boundary=\"alt\"\n\n"
             . "--alt\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n"
             . encode_qp($text) . "\n--alt\nContent-Type: multipart/related; type=\"text/html\"; boundary=\"rel\"\n\n"
             . "--rel\nContent-Type: text/html; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n"
             . encode_qp($html) . "\n$imgs--rel--\n\n--alt--\n";
    } elsif ($kind eq 'att20m') {
        my $blob = $gen->{blob} x 320;      # 20 MB
        $raw = $head . "Content-Type: multipart/mixed; boundary=\"mix\"\n\n"
             . "--mix\nContent-Type: text/plain; charset=utf-8\n\nThe logs you asked for are attached.\n\n"
             . "--mix\nContent-Type: application/octet-stream; name=\"logs.tar\"\n"
             . "Content-Disposition: attachment; filename=\"logs.tar\"\nContent-Transfer-Encoding: base64\n\n"
             . encode_base64($blob) . "--mix--\n";
    } else {
        die "unknown size $kind";
    }
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh _crlf($raw);
    close $fh;
    return $file;
}

1;
