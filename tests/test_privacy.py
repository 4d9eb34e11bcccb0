"""Masking personal data: every way citizens write a NIK, a phone number or an e-mail
address is masked, and ordinary numbers (dates, RT/RW, rupiah amounts) are left alone."""

from __future__ import annotations

import pytest

from bot.privacy import mask

NIKS = [
    "3201234567890001",
    "3201 2345 6789 0001",
    "3201  2345  6789  0001",  # double spaces
    "3201   2345   6789   0001",
    "32.01.23.456789.0001",  # as printed on the KTP
    "3201.2345.6789.0001",
    "3201/2345/6789/0001",
    "3201-2345-6789-0001",
    "32012345\u200b67890001",  # a zero-width space inside
    "3201\u200c2345\u200d6789\u20600001",
    "3201\ufeff2345 6789\u00ad0001",
    "３２０１２３４５６７８９０００１",  # full-width digits
]


@pytest.mark.parametrize("nik", NIKS)
def test_nik_in_any_form_is_masked(nik: str) -> None:
    masked = mask(f"NIK saya {nik} tidak terdaftar")
    assert masked.startswith("NIK saya ************") and masked.endswith(" tidak terdaftar")
    digits = "".join(c for c in masked if c.isdigit())
    assert len(digits) == 4  # only the last four stay
    assert "2345" not in masked and "456789" not in masked


PHONES = [
    ("hp081234567890", "hp*********890"),
    ("HP081234567890", "HP*********890"),
    ("wa081234567890", "wa*********890"),
    ("nomor:081234567890", "nomor:*********890"),
    ("0812 3456 7890", "*********890"),
    ("0812-3456-7890", "*********890"),
    ("0812.3456.7890", "*********890"),
    ("0812  3456  7890", "*********890"),
    ("081234567890", "*********890"),
    ("+62 812 3456 7890", "+**********890"),
    ("+62-812-3456-7890", "+**********890"),
    ("+62 812-3456-789", "+*********789"),
    ("+6281234567890", "+**********890"),
    ("+62 (812) 3456 7890", "+**********890"),
    ("(+62) 812 3456 7890", "+**********890"),
    ("62 812 3456 7890", "**********890"),
    ("6281234567890", "**********890"),
    ("wa.me/6281234567890", "wa.me/**********890"),
    ("(021) 345 6789", "*******789"),
    ("021-3456-7890", "********890"),
    ("+62 21 345 6789", "+********789"),
    ("+1 415 555 0123", "+********123"),
]


@pytest.mark.parametrize(("phone", "masked"), PHONES, ids=[p for p, _ in PHONES])
def test_phone_numbers_in_any_form_are_masked(phone: str, masked: str) -> None:
    assert mask(f"hubungi {phone} ya") == f"hubungi {masked} ya"


EMAILS = [
    ("budi.santoso@contoh.go.id", "b***@contoh.go.id"),
    ("Budi_99+tanya@mail.example.com", "B***@mail.example.com"),
    ("bürger@beispiel.de", "b***@beispiel.de"),
    ("josé.garcía@correo.es", "j***@correo.es"),
    ("siti@dinas-sosial.kota.go.id", "s***@dinas-sosial.kota.go.id"),
    ("用户@例子.广告", "用***@例子.广告"),
    ("андрей@почта.рф", "а***@почта.рф"),
    ("ana@müller.de", "a***@müller.de"),
    ("ana@xn--mller-kva.xn--p1ai", "a***@xn--mller-kva.xn--p1ai"),
]


@pytest.mark.parametrize(("email", "masked"), EMAILS, ids=[e for e, _ in EMAILS])
def test_email_addresses_are_masked_whatever_their_script(email: str, masked: str) -> None:
    assert mask(f"email saya: {email}, terima kasih") == f"email saya: {masked}, terima kasih"


ORDINARY = [
    "tanggal 12/03/2024",
    "lahir 12-03-2024 jam 08.00",
    "tgl 12.03.2024 bayar Rp 15.000.000",
    "12/03/2024 15.000.000",
    "RT 003/RW 005 Kel. Sukamaju",
    "RT 01 RW 02 nomor rumah 17",
    "biaya Rp 1.500.000 per bulan",
    "Rp 62.500.000",
    "Rp62500000",
    "IDR 62500000",
    "total 1.000.000.000.000.000 rupiah",
    "anggaran 2.345.678.901,50",
    "pukul 08.00-14.00 WIB",
    "jam 08.00 - 16.00",
    "tahun 2024 dan 2025",
    "kode pos 40111",
    "no. 12 lantai 3",
    "nomor antrean 0123",
    "faktur INV0812345678",
    "skor 5/5",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_are_not_masked(text: str) -> None:
    assert mask(text) == text
