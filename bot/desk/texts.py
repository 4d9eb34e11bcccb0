"""Every word the officials' desk shows, in Indonesian and English."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    # (Indonesian, English)
    "desk": ("Meja Petugas", "Officials' desk"),
    "sign_in": ("Masuk", "Sign in"),
    "sign_out": ("Keluar", "Sign out"),
    "name": ("Nama", "Name"),
    "password": ("Kata sandi", "Password"),
    "bad_login": ("Nama atau kata sandi salah.", "Wrong name or password."),
    "too_many": (
        "Terlalu banyak percobaan gagal. Coba lagi setelah {minutes} menit.",
        "Too many failed attempts. Try again in {minutes} minutes.",
    ),
    "signed_out": ("Anda sudah keluar.", "You have signed out."),
    "pw_short": (
        "Kata sandi terlalu pendek: minimal {n} karakter.",
        "The password is too short: at least {n} characters.",
    ),
    "pw_guessable": (
        "Kata sandi terlalu mudah ditebak (kata sandi umum, urutan angka atau huruf, pola "
        "keyboard, pengulangan, tanggal, atau nama akun). Pakai beberapa kata yang tidak umum.",
        "The password is too easy to guess (a common password, a run of digits or letters, "
        "a keyboard pattern, a repeat, a date or the account's name). Use a few uncommon words.",
    ),
    "inbox": ("Kotak masuk", "Inbox"),
    "history": ("Riwayat", "History"),
    "training": ("Pelatihan model", "Model training"),
    "audit": ("Log audit", "Audit log"),
    "language": ("English", "Bahasa Indonesia"),
    "status": ("Status", "Status"),
    "st_open": ("Terbuka", "Open"),
    "st_answered": ("Dijawab", "Answered"),
    "st_closed": ("Ditutup", "Closed"),
    "topic": ("Topik", "Topic"),
    "channel": ("Kanal", "Channel"),
    "assignee": ("Petugas", "Assignee"),
    "anyone": ("Siapa saja", "Anyone"),
    "nobody": ("Belum ada", "Nobody"),
    "me": ("Saya", "Me"),
    "all": ("Semua", "All"),
    "search": ("Cari pertanyaan", "Search questions"),
    "filter": ("Saring", "Filter"),
    "question": ("Pertanyaan", "Question"),
    "waiting": ("Menunggu", "Waiting"),
    "reason": ("Alasan", "Reason"),
    "no_tickets": ("Tidak ada pertanyaan di sini.", "No questions here."),
    "open_count": ("{count} pertanyaan menunggu jawaban", "Questions waiting: {count}"),
    "why_low_confidence": ("bot tidak yakin", "the bot was unsure"),
    "why_asked_human": ("warga minta petugas", "asked for an official"),
    "why_expired": ("jawaban FAQ kedaluwarsa", "the FAQ answer expired"),
    "why_too_long": ("pesan terlalu panjang", "message too long"),
    "why_empty": ("pesan kosong", "empty message"),
    "why_unsupported": ("tidak bisa dibaca", "unreadable"),
    "cr_other": ("Lainnya", "Other"),
    "choose_entry": ("— pilih entri —", "— choose an entry —"),
    "ticket": ("Tiket", "Ticket"),
    "conversation": ("Percakapan", "Conversation"),
    "citizen": ("Warga", "Citizen"),
    "bot": ("Bot", "Bot"),
    "official": ("Petugas", "Official"),
    "guesses": ("Tebakan terbaik bot", "The bot's best guesses"),
    "no_guesses": ("Bot tidak punya tebakan.", "The bot has no guesses."),
    "use_answer": ("Pakai jawaban ini", "Use this answer"),
    "confidence": ("keyakinan", "confidence"),
    "assign_me": ("Ambil (tugaskan ke saya)", "Assign to me"),
    "unassign": ("Lepaskan", "Unassign"),
    "assigned_to": ("Ditangani oleh {name}", "Assigned to {name}"),
    "answer": ("Jawaban", "Answer"),
    "send_answer": ("Kirim jawaban", "Send answer"),
    "similar": ("Pertanyaan serupa yang masih terbuka", "Similar open questions"),
    "similar_help": (
        "Centang hanya pertanyaan yang benar-benar sama: warga yang dicentang menerima jawaban "
        "Anda persis seperti yang tertulis, termasuk nama, NIK atau data pribadi lain di "
        "dalamnya. Jangan centang bila jawaban Anda ditujukan untuk satu warga saja.",
        "Tick only questions that truly ask the same thing: the citizens you tick receive your "
        "answer exactly as written, including any name, NIK or other personal data in it. "
        "Do not tick any when your answer is meant for one citizen only.",
    ),
    "similarity": ("kemiripan", "similarity"),
    "similar_personal": (
        "Jawaban ini memuat data pribadi (NIK, nomor telepon atau e-mail): jawaban hanya bisa "
        "dikirim ke warga ini. Hapus centang pertanyaan serupa, atau hapus data pribadinya.",
        "This answer contains personal data (a NIK, phone number or e-mail address): it can "
        "only go to this citizen. Untick the similar questions, or remove the personal data.",
    ),
    "close": ("Tutup tanpa jawaban", "Close without answer"),
    "close_reason": ("Alasan menutup", "Reason for closing"),
    "cr_duplicate": ("Duplikat", "Duplicate"),
    "cr_spam": ("Spam atau bukan pertanyaan", "Spam or not a question"),
    "cr_elsewhere": ("Sudah dijawab di tempat lain", "Answered elsewhere"),
    "cr_out_of_scope": ("Bukan wewenang kami", "Not our responsibility"),
    "answered_by": ("Dijawab oleh {name}, {at}", "Answered by {name}, {at}"),
    "closed_by": ("Ditutup oleh {name}, {at}", "Closed by {name}, {at}"),
    "delivery": ("Pengiriman", "Delivery"),
    "undelivered": ("Tidak terkirim", "Not delivered"),
    "undelivered_help": (
        "Pesan yang ditolak platform, yang batas waktunya habis, atau yang masih dicoba "
        "lebih dari 15 menit. Jawaban petugas bisa dikirim ulang; untuk balasan bot, warga "
        "bisa dihubungi lewat tiketnya.",
        "Messages the platform refused, whose time window ran out, or that are still being "
        "retried after 15 minutes. Officials' answers can be sent again; for the bot's "
        "replies, reach the citizen through their ticket.",
    ),
    "all_delivered": ("Semua pesan sudah terkirim.", "Every message was delivered."),
    "what": ("Pesan", "Message"),
    "attempts": ("{count} kali dicoba", "{count} attempts"),
    "resent": ("Dikirim ulang.", "Sent again."),
    "unanswerable": ("Pesan warga yang gagal dijawab", "Citizens' messages that failed"),
    "unanswerable_help": (
        "Bot gagal memproses pesan ini beberapa kali dan menyisihkannya agar pesan lain tetap "
        "dijawab. Tanggapi warga ini secara langsung bila perlu, dan laporkan ke tim TI.",
        "The bot failed to process these messages several times and set them aside so the "
        "others are still answered. Reach these citizens directly if needed, and tell IT.",
    ),
    "dl_pending": ("sedang dikirim", "being sent"),
    "dl_retry": (
        "belum terkirim, dicoba lagi otomatis",
        "not delivered yet, retrying automatically",
    ),
    "dl_retrying": (
        "belum terkirim, dicoba lagi otomatis",
        "not delivered yet, retrying automatically",
    ),
    "dl_gave_up": (
        "tidak terkirim: batas waktu platform habis",
        "not delivered: the platform's time window ran out",
    ),
    "dl_sent": ("terkirim", "delivered"),
    "dl_waiting": ("menunggu warga membuka chat", "waiting for the citizen to open the chat"),
    "dl_failed": ("gagal", "failed"),
    "dl_undeliverable": ("tidak dapat dikirim", "undeliverable"),
    "dl_blocked": ("warga memblokir bot", "the citizen blocked the bot"),
    "retry": ("Kirim ulang", "Send again"),
    "rating": ("Penilaian warga", "Citizen's rating"),
    "add_to_faq": ("Tambahkan ke FAQ", "Add to FAQ"),
    "add_example": (
        "Sebagai contoh pertanyaan untuk entri yang ada",
        "As an example question of an existing entry",
    ),
    "add_entry": ("Sebagai entri baru", "As a new entry"),
    "entry": ("Entri", "Entry"),
    "entry_id": ("ID entri (huruf kecil, angka, -)", "Entry id (lowercase letters, digits, -)"),
    "new_topic": ("atau topik baru", "or a new topic"),
    "questions_lines": (
        "Contoh pertanyaan (satu per baris, paling sedikit {min})",
        "Example questions (one per line, at least {min})",
    ),
    "in_language": ("Bahasa", "Language"),
    "lang_id": ("Indonesia", "Indonesian"),
    "lang_en": ("Inggris", "English"),
    "added_to_faq": ("Ditambahkan ke FAQ: {entry}", "Added to the FAQ: {entry}"),
    "train_started": (
        "Model dilatih ulang di latar belakang.",
        "The model is retraining in the background.",
    ),
    "answer_sent": ("Jawaban disimpan: {state}.", "Answer saved: {state}."),
    "also_sent": (
        "Juga dikirim ke {count} pertanyaan serupa.",
        "Also sent to {count} similar questions.",
    ),
    "already": (
        "Tiket ini sudah ditangani petugas lain.",
        "Another official handled this ticket already.",
    ),
    "empty_answer": ("Jawaban tidak boleh kosong.", "The answer must not be empty."),
    "closed_ok": ("Tiket ditutup.", "Ticket closed."),
    "not_found": ("Tidak ditemukan.", "Not found."),
    "bad_input": (
        "Isian tidak sah: ada nilai atau karakter yang tidak bisa dipakai (misalnya karakter NUL).",
        "Invalid input: a value or a character that cannot be used (such as a NUL character).",
    ),
    "bad_form": (
        "Formulir tidak bisa dibaca. Muat ulang halaman dan coba lagi.",
        "The form could not be read. Reload the page and try again.",
    ),
    "too_large": (
        "Isian terlalu panjang untuk dikirim. Persingkat teksnya dan coba lagi.",
        "The form is too large to send. Shorten the text and try again.",
    ),
    "forbidden": ("Anda tidak berhak membuka halaman ini.", "You may not open this page."),
    "csrf": (
        "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman dan coba lagi.",
        "The form expired or is not valid. Reload the page and try again.",
    ),
    "back": ("Kembali", "Back"),
    "tr_running": ("Sedang melatih…", "Training…"),
    "tr_succeeded": ("Berhasil", "Succeeded"),
    "tr_failed": ("Gagal", "Failed"),
    "tr_none": (
        "Belum ada pelatihan sejak server dimulai.",
        "No training since the server started.",
    ),
    "tr_model": ("Model yang dipakai: dilatih {at}.", "Model in use: trained {at}."),
    "tr_expect": (
        "Diukur pada pertanyaan FAQ sendiri: sekitar {right}% pertanyaan dijawab benar, "
        "{wrong}% dijawab salah, {choices}% diberi pilihan, {officials}% diteruskan ke "
        "petugas (batas jawaban salah: {budget}%).",
        "Measured on the FAQ's own questions: about {right}% of questions answered right, "
        "{wrong}% answered wrong, {choices}% offered choices, {officials}% passed to "
        "officials (wrong answers allowed: {budget}%).",
    ),
    "tr_budget_unmet": (
        "Batas jawaban salah tidak tercapai pada FAQ ini: tambahkan contoh pertanyaan.",
        "The budget of wrong answers cannot be met on this FAQ: add example questions.",
    ),
    "tr_stale": (
        "FAQ berubah sejak model ini dilatih.",
        "The FAQ changed since this model was trained.",
    ),
    "retrain": ("Latih ulang sekarang", "Retrain now"),
    "seconds": ("{s} detik", "{s} s"),
    "when": ("Waktu", "When"),
    "who": ("Siapa", "Who"),
    "action": ("Tindakan", "Action"),
    "target": ("Sasaran", "Target"),
    "detail": ("Rincian", "Detail"),
    "system": ("sistem", "system"),
    "minutes_short": ("{n} mnt", "{n} min"),
    "hours_short": ("{n} jam", "{n} h"),
    "days_short": ("{n} hari", "{n} d"),
    # Announcements and polls
    "announcements": ("Pengumuman & jajak pendapat", "Announcements & polls"),
    "campaigns": ("Tautan kampanye", "Campaign links"),
    "bc_new": ("Buat baru", "Compose"),
    "bc_kind": ("Jenis", "Kind"),
    "bc_announcement": ("Pengumuman", "Announcement"),
    "bc_poll": ("Jajak pendapat", "Poll"),
    "bc_survey": ("Survei", "Survey"),
    "sv_no_question": (
        "baris {line}: pertanyaannya tidak ada",
        "line {line}: the question is missing",
    ),
    "sv_bad_choices": (
        "baris {line}: tulis 2 sampai {most} pilihan sebagai [a | b | c], atau [1-5], atau [teks]",
        "line {line}: write 2 to {most} choices as [a | b | c], or [1-5], or [teks]",
    ),
    "sv_empty": (
        "survei perlu paling sedikit satu pertanyaan",
        "a survey needs at least one question",
    ),
    "sv_too_many": (
        "survei paling banyak {most} pertanyaan",
        "a survey has at most {most} questions",
    ),
    "bc_bad_survey": (
        "Survei tidak bisa dibaca: {reason}",
        "The survey could not be read: {reason}",
    ),
    "sv_help": (
        "Survei: satu pertanyaan per baris, jenisnya di akhir: [1-5], [pilihan a | pilihan b] "
        "atau [teks].",
        "Survey: one question per line, its kind at the end: [1-5], [choice a | choice b] "
        "or [text].",
    ),
    "sv_counts": (
        "{done} selesai, {answering} sedang mengisi",
        "{done} completed, {answering} in progress",
    ),
    "sv_average": ("rata-rata {value}", "average {value}"),
    "sv_answers": ("{count} jawaban", "{count} answers"),
    "bc_text": ("Isi pesan (atau pertanyaan jajak pendapat)", "Message (or the poll's question)"),
    "bc_link": ("Tautan (opsional)", "Link (optional)"),
    "bc_image": ("Alamat gambar (opsional)", "Image URL (optional)"),
    "bc_options": (
        "Pilihan jawaban jajak pendapat (satu per baris), atau pertanyaan survei",
        "Poll choices (one per line), or the survey's questions",
    ),
    "bc_multiple": ("Boleh memilih lebih dari satu", "Several choices allowed"),
    "bc_topics": ("Untuk pelanggan topik", "To subscribers of"),
    "bc_channels": ("Kanal", "Channels"),
    "bc_send_at": (
        "Kirim pada (kosongkan untuk sekarang)",
        "Send at (leave empty for now)",
    ),
    "bc_preview": ("Pratinjau", "Preview"),
    "bc_send": ("Kirim", "Send"),
    "bc_schedule": ("Jadwalkan", "Schedule"),
    "bc_audience": ("Penerima", "Recipients"),
    "bc_outside": (
        "{count} pelanggan Messenger di luar jendela 24 jam akan dilewati.",
        "{count} Messenger subscribers outside the 24-hour window will be skipped.",
    ),
    "bc_subscribers": ("{count} pelanggan", "{count} subscribers"),
    "bc_none": ("Belum ada pengumuman.", "No announcements yet."),
    "bc_need_text": ("Tulis isi pesannya.", "Write the message."),
    "bc_need_topics": ("Pilih paling sedikit satu topik.", "Choose at least one topic."),
    "bc_need_channels": ("Pilih paling sedikit satu kanal.", "Choose at least one channel."),
    "bc_need_options": (
        "Jajak pendapat perlu 2 sampai {most} pilihan.",
        "A poll needs 2 to {most} choices.",
    ),
    "bc_bad_url": ("Alamat tidak sah: {url}", "Not a valid web address: {url}"),
    "bc_bad_time": ("Waktu kirim tidak sah.", "Not a valid sending time."),
    "bc_no_recipients": (
        "Tidak ada penerima: belum ada warga yang berlangganan topik ini di kanal yang "
        "dipilih (atau semuanya di luar jendela 24 jam Messenger). Pilih topik atau kanal lain.",
        "Nobody would receive it: no citizen subscribed to these topics on the chosen "
        "channels (or all are outside Messenger's 24-hour window). Choose other topics or "
        "channels.",
    ),
    "bc_edit": ("Ubah", "Change"),
    "bc_recipients": ("{count} warga akan menerimanya.", "{count} citizens will receive it."),
    "bc_long_choices": (
        "Tombol Messenger hanya memuat {n} karakter, jadi pilihan ini terpotong di Messenger: "
        "{choices}. Persingkat pilihannya.",
        "Messenger's buttons show {n} characters, so these choices are cut off there: "
        "{choices}. Shorten them.",
    ),
    "bc_cancel_confirm": (
        "Hentikan pengiriman kepada {count} warga yang belum menerimanya? Pesan yang sudah "
        "terkirim tidak bisa ditarik.",
        "Stop sending to the {count} citizens who have not received it yet? What was sent "
        "cannot be taken back.",
    ),
    "bc_cancel_yes": ("Ya, hentikan pengiriman", "Yes, stop sending"),
    "bc_cancel": ("Batalkan pengiriman", "Cancel sending"),
    "bc_cancelled": ("Dibatalkan.", "Cancelled."),
    "bc_close_poll": ("Tutup jajak pendapat", "Close the poll"),
    "bc_results": ("Hasil", "Results"),
    "bc_voters": ("{count} warga memilih", "{count} citizens voted"),
    "bc_csv": ("Unduh CSV", "Download CSV"),
    "bc_progress": ("Kemajuan", "Progress"),
    "bc_not_reached": ("Tidak terkirim", "Not delivered"),
    "bs_scheduled": ("terjadwal", "scheduled"),
    "bs_sending": ("sedang dikirim", "sending"),
    "bs_sent": ("terkirim", "sent"),
    "bs_cancelled": ("dibatalkan", "cancelled"),
    "ds_pending": ("menunggu", "waiting"),
    "ds_sending": ("sedang dikirim", "sending"),
    "ds_sent": ("terkirim", "delivered"),
    "ds_failed": ("gagal", "failed"),
    "ds_skipped": ("dilewati", "skipped"),
    "ds_blocked": ("memblokir bot", "blocked the bot"),
    "camp_slug": ("Kode kampanye (huruf kecil, angka, -)", "Campaign code (lowercase, digits, -)"),
    "camp_title": ("Nama kampanye", "Campaign name"),
    "camp_create": ("Buat tautan", "Create links"),
    "camp_bad_slug": ("Kode kampanye tidak sah.", "Not a valid campaign code."),
    "camp_exists": ("Kode kampanye itu sudah dipakai.", "That campaign code is taken."),
    "camp_created": ("Kampanye {slug} dibuat.", "Campaign {slug} created."),
    "camp_links": ("Tautan", "Links"),
    "camp_citizens": ("Warga", "Citizens"),
    "camp_questions": ("Pertanyaan", "Questions"),
    "camp_subscriptions": ("Langganan", "Subscriptions"),
    "camp_none": ("Belum ada kampanye.", "No campaigns yet."),
    # Dashboard
    "dashboard": ("Dasbor", "Dashboard"),
    "db_period": ("periode {label}", "period {label}"),
    "db_last_7": ("7 hari terakhir", "Last 7 days"),
    "db_last_30": ("30 hari terakhir", "Last 30 days"),
    "db_month": ("Bulan", "Month"),
    "db_show": ("Tampilkan", "Show"),
    "db_public_report": ("Laporan publik", "Public report"),
    "db_timezone_note": (
        "Hari dihitung menurut zona waktu {tz}. Tiket terbuka: keadaan saat ini.",
        "Days are counted in the {tz} time zone. Open tickets: as of now.",
    ),
    "db_questions": ("Pertanyaan warga", "Citizens' questions"),
    "db_of": ("{n} dari {total}", "{n} of {total}"),
    "db_oc_answer": ("Dijawab bot", "Answered by the bot"),
    "db_oc_clarify": ("Bot minta penjelasan", "Clarified"),
    "db_oc_smalltalk": ("Sapaan dan obrolan", "Small talk"),
    "db_oc_escalate": ("Diteruskan ke petugas", "Escalated"),
    "db_oc_not_delivered": ("Balasan belum sampai", "Reply not delivered"),
    "db_oc_none": ("Belum diputuskan / lainnya", "Undecided / other"),
    "db_helpful_rate": ("Dinilai membantu", "Rated helpful"),
    "db_median": ("Waktu tanggap petugas (median)", "Officials' response time (median)"),
    "db_p90": ("90% dijawab dalam", "90% answered within"),
    "db_answers": ("{n} jawaban petugas", "{n} officials' answers"),
    "db_rating": ("Rata-rata penilaian warga (1-5)", "Citizens' average rating (1-5)"),
    "db_ratings": ("{n} penilaian", "{n} ratings"),
    "db_open_now": ("Tiket terbuka sekarang", "Open tickets now"),
    "db_tickets": (
        "Tiket pada periode ini: {opened} dibuka, {answered} dijawab, {closed} ditutup.",
        "Tickets in this period: {opened} opened, {answered} answered, {closed} closed.",
    ),
    "db_per_day_channel": ("Pertanyaan per hari menurut kanal", "Questions per day by channel"),
    "db_per_day_language": (
        "Pertanyaan per hari menurut bahasa",
        "Questions per day by language",
    ),
    "db_outcomes": ("Bagaimana bot menangani pertanyaan", "How the bot handled questions"),
    "db_open_ages": (
        "Tiket terbuka menurut lama menunggu",
        "Open tickets by time waiting",
    ),
    "db_hours": ("{n} jam", "{n} h"),
    "db_days": ("{n} hari", "{n} d"),
    "db_data_table": ("Tabel angka", "Figures as a table"),
    "db_total": ("Jumlah", "Total"),
    "db_lang_unknown": ("Tidak diketahui", "Unknown"),
    "db_top_entries": ("Entri FAQ yang paling sering dipakai", "Most used FAQ entries"),
    "db_negative": (
        "Entri dengan umpan balik negatif terbanyak",
        "Entries with the most negative feedback",
    ),
    "db_uses": ("Dijawab", "Answered"),
    "db_helpful": ("Membantu", "Helpful"),
    "db_unhelpful": ("Tidak membantu", "Not helpful"),
    "db_entry_gone": ("(tidak ada lagi di FAQ)", "(no longer in the FAQ)"),
    "db_none": ("Tidak ada data pada periode ini.", "No data in this period."),
    "export": ("Ekspor percakapan", "Export conversations"),
    "export_about": (
        "Satu baris per pesan, sebagai CSV untuk Excel. Warga hanya diberi nomor (berbeda di "
        "setiap ekspor); NIK, nomor telepon dan alamat e-mail disamarkan. Setiap ekspor "
        "dicatat di log audit.",
        "One row per message, as CSV for Excel. Citizens are only numbers (different in every "
        "export); NIKs, phone numbers and e-mail addresses are masked. Every export is "
        "recorded in the audit log.",
    ),
    "export_retention": (
        "Teks yang lebih lama dari {days} hari sudah dihapus; angka-angkanya tetap ada.",
        "Texts older than {days} days have been removed; their figures remain.",
    ),
    "export_from": ("Dari tanggal", "From"),
    "export_to": ("Sampai tanggal", "To"),
    "export_download": ("Unduh CSV", "Download CSV"),
    "export_bad_period": ("Periode tidak sah.", "Not a valid period."),
    "export_bad_channel": ("Kanal tidak dikenal.", "Unknown channel."),
    "text_removed": ("[teks dihapus: masa simpan habis]", "[text removed: retention period]"),
    # Clusters and rumours (bot/desk/insight_views.py)
    "clusters": ("Klaster pertanyaan", "Question clusters"),
    "rumours": ("Rumor", "Rumours"),
    "cl_period": ("Periode", "Period"),
    "cl_days": ("{n} hari terakhir", "last {n} days"),
    "cl_show": ("Tampilkan", "Show"),
    "cl_help": (
        "Pertanyaan yang tidak bisa dijawab bot (dieskalasi atau bot tidak yakin), "
        "dikelompokkan menurut isinya. Klaster terbesar di atas.",
        "Questions the bot could not answer (escalated, or it was unsure), grouped by "
        "what they ask. Largest clusters first.",
    ),
    "cl_left_out": (
        "Pertanyaan yang sudah dijawab petugas, atau yang sudah menjadi contoh pertanyaan "
        "di FAQ, tidak ikut.",
        "Questions an official has answered, or that are already FAQ example questions, are "
        "left out.",
    ),
    "cl_summary": (
        "{questions} pertanyaan tak terjawab, {clusters} klaster.",
        "{questions} unanswered questions, {clusters} clusters.",
    ),
    "cl_limited": (
        "Hanya {n} pertanyaan terbaru yang dikelompokkan.",
        "Only the latest {n} questions were grouped.",
    ),
    "cl_computing": (
        "Sedang mengelompokkan pertanyaan… halaman ini dimuat ulang sendiri.",
        "Grouping the questions… this page reloads by itself.",
    ),
    "cl_unavailable": (
        "Model kalimat tidak dimuat: klaster dan kecocokan hoaks tidak tersedia.",
        "The sentence encoder is not loaded: no clusters and no hoax matches.",
    ),
    "cl_cluster": ("Klaster {n}", "Cluster {n}"),
    "cl_count": ("{n} pertanyaan", "{n} questions"),
    "cl_growing": ("naik cepat", "growing fast"),
    "cl_growth": (
        "{recent} dalam {days} hari terakhir, {earlier} sebelumnya",
        "{recent} in the last {days} days, {earlier} before",
    ),
    "cl_examples": ("Contoh pertanyaan", "Example questions"),
    "cl_all": ("Semua pertanyaan ({n})", "All questions ({n})"),
    "cl_create_entry": ("Buat entri FAQ dari klaster ini", "Create an FAQ entry from this cluster"),
    "cl_other": ("Pertanyaan lain ({n})", "Other questions ({n})"),
    "cl_none": (
        "Tidak ada pertanyaan tak terjawab dalam periode ini.",
        "No unanswered questions in this period.",
    ),
    "rm_help": (
        "Pesan yang mungkin membawa hoaks: diteruskan dari tempat lain, menanyakan apakah "
        "sesuatu benar, atau dijawab bot dengan klarifikasi hoaks.",
        "Messages that may carry misinformation: forwarded from elsewhere, asking whether "
        "something is true, or answered by the bot with a hoax clarification.",
    ),
    "rm_none": (
        "Tidak ada pesan yang diduga hoaks dalam periode ini.",
        "No possible misinformation in this period.",
    ),
    "rm_forwarded": ("diteruskan", "forwarded"),
    "rm_asks": ("menanyakan kebenaran", "asks if true"),
    "rm_answered": ("dijawab dengan klarifikasi", "answered with a clarification"),
    "rm_message": ("Pesan", "Message"),
    "rm_match": ("Klarifikasi yang paling cocok", "Best-matching clarification"),
    "rm_no_match": ("Belum ada klarifikasi yang cocok", "No matching clarification yet"),
    "rm_announce": ("Umumkan klarifikasi", "Announce a clarification"),
    "rm_answer": ("Jawab (buka tiket)", "Answer (open a ticket)"),
    "rm_growing": ("Klaster yang naik cepat", "Fast-growing clusters"),
    "rm_no_growing": ("Tidak ada klaster yang naik cepat.", "No fast-growing clusters."),
    "rm_no_hoax_topic": (
        "FAQ belum punya topik klarifikasi hoaks ({topic}).",
        "The FAQ has no hoax-clarification topic ({topic}) yet.",
    ),
    "why_rumour": ("diduga hoaks", "possible misinformation"),
    # The ticket page: topic, "add to FAQ" in both languages, answers kept after errors
    "change_topic": ("Ubah topik", "Change topic"),
    "topic_changed": ("Topik diubah menjadi {topic}.", "Topic changed to {topic}."),
    "topic_unknown": ("Topik itu tidak ada di FAQ.", "That topic is not in the FAQ."),
    "no_topic": ("(tanpa topik)", "(no topic)"),
    "unsent": ("Jawaban Anda (tidak terkirim)", "Your answer (not sent)"),
    "unsent_help": (
        "{name} sudah menjawab tiket ini lebih dulu, jadi jawaban Anda tidak dikirim. "
        "Teksnya ada di sini bila masih diperlukan.",
        "{name} answered this ticket first, so your answer was not sent. Its text is here "
        "in case you still need it.",
    ),
    "question_masked": (
        "NIK, nomor telepon dan alamat e-mail warga sudah dihapus dari pertanyaan.",
        "The citizen's NIK, phone numbers and e-mail addresses were taken out of the question.",
    ),
    "used_entry": (
        "Jawaban Anda memakai jawaban entri ini.",
        "Your answer used this entry's answer.",
    ),
    "new_topic_slug": (
        "Kode topik baru (huruf kecil, angka, -)",
        "New topic's code (lowercase letters, digits, -)",
    ),
    "title_in": ("Judul topik baru, bahasa {name}", "New topic's title in {name}"),
    "need_titles": (
        "Topik baru perlu judul dalam bahasa {languages}: warga membaca judulnya, bukan kodenya.",
        "A new topic needs a title in {languages}: citizens read the title, not the code.",
    ),
    "questions_in": (
        "Contoh pertanyaan, bahasa {name} (satu per baris)",
        "Example questions in {name} (one per line)",
    ),
    "answer_in": ("Jawaban, bahasa {name}", "Answer in {name}"),
    "entry_languages": (
        "Isi satu bahasa atau keduanya; paling sedikit {min} contoh pertanyaan semuanya.",
        "Fill in one language or both; at least {min} example questions in all.",
    ),
    "in_lang_id": ("Indonesia", "Indonesian"),
    "in_lang_en": ("Inggris", "English"),
    # The FAQ as a spreadsheet (bot/desk/faq_views.py)
    "faq": ("FAQ (spreadsheet)", "FAQ (spreadsheet)"),
    "faq_about": (
        "Seluruh FAQ ({entries} entri, {topics} topik) sebagai satu spreadsheet: satu baris per "
        "entri, bahasa Indonesia dan Inggris berdampingan. Unduh, ubah di Excel atau "
        "LibreOffice, lalu unggah kembali: perubahannya ditampilkan dulu sebelum disimpan.",
        "The whole FAQ ({entries} entries, {topics} topics) as one spreadsheet: a row per "
        "entry, Indonesian and English side by side. Download it, edit it in Excel or "
        "LibreOffice, and upload it again: you see what changes before anything is saved.",
    ),
    "faq_download": ("Unduh", "Download"),
    "faq_upload": ("Unggah spreadsheet", "Upload a spreadsheet"),
    "faq_file": ("Berkas", "File"),
    "faq_column_language": (
        "Bahasa kolom yang tidak menyebut bahasa (mis. \u201cpertanyaan\u201d)",
        "Language of columns that name none (e.g. \u201cquestion\u201d)",
    ),
    "faq_check": ("Periksa perubahannya", "See what it changes"),
    "faq_no_file": ("Pilih berkas yang akan diunggah.", "Choose a file to upload."),
    "faq_unreadable": (
        "{file} tidak bisa dibaca: {reason}",
        "{file} cannot be read: {reason}",
    ),
    "faq_broken": (
        "FAQ berisi kesalahan sehingga tidak bisa diekspor: jalankan `tanya check`.",
        "The FAQ has errors and cannot be exported: run `tanya check`.",
    ),
    "faq_preview": ("Perubahan dari {file}", "What {file} changes"),
    "faq_added": ("Entri baru ({n})", "New entries ({n})"),
    "faq_changed": ("Entri yang berubah ({n})", "Changed entries ({n})"),
    "faq_unchanged": ("{n} entri tidak berubah.", "{n} entries unchanged."),
    "faq_missing": ("Tidak ada di berkas ({n})", "Not in the file ({n})"),
    "faq_missing_help": (
        "Entri ini ada di FAQ tetapi tidak di berkas. Entri tetap disimpan, kecuali yang Anda "
        "centang untuk dihapus.",
        "These entries are in the FAQ but not in the file. They stay, except those you tick "
        "to remove.",
    ),
    "faq_remove": ("hapus", "remove"),
    "faq_notices": ("Catatan pembacaan ({n})", "Notes from reading the file ({n})"),
    "faq_skipped": ("dilewati", "skipped"),
    "faq_nothing": (
        "Berkas ini tidak mengubah apa pun di FAQ.",
        "This file changes nothing in the FAQ.",
    ),
    "faq_apply": ("Simpan perubahan ini", "Save these changes"),
    "faq_applied": (
        "FAQ diperbarui: {added} entri baru, {changed} berubah, {removed} dihapus.",
        "FAQ updated: {added} new entries, {changed} changed, {removed} removed.",
    ),
    "faq_expired": (
        "Unggahan ini sudah kedaluwarsa atau sudah disimpan: unggah berkasnya lagi.",
        "This upload expired or was saved already: upload the file again.",
    ),
    "fld_questions": ("contoh pertanyaan ({lang})", "example questions ({lang})"),
    "fld_answer": ("jawaban ({lang})", "answer ({lang})"),
    "fld_links": ("tautan", "links"),
    "fld_source": ("sumber", "source"),
    "fld_updated": ("tanggal diperbarui", "updated"),
    "fld_valid_until": ("berlaku sampai", "valid until"),
    # Every page: the model and the FAQ
    "stale_banner": (
        "Isi FAQ berubah sejak model dilatih: bot masih menjawab dengan isi yang lama.",
        "The FAQ changed since the model was trained: the bot still answers from the old one.",
    ),
    "training_banner": (
        "Model sedang dilatih ulang; bot memakai model baru begitu selesai.",
        "The model is retraining; the bot uses the new one as soon as it is done.",
    ),
    "see_progress": ("Lihat kemajuannya", "See its progress"),
    "tr_started": ("dimulai {at}", "started {at}"),
    "server_error": (
        "Maaf, terjadi kesalahan di server. Coba lagi; bila terus terjadi, beri tahu tim TI.",
        "Sorry, something went wrong on the server. Try again; if it keeps happening, tell IT.",
    ),
    "new_tickets": (
        "Ada pertanyaan baru ({count} menunggu).",
        "New questions arrived ({count} waiting).",
    ),
    "show_them": ("Tampilkan", "Show them"),
    "detail_of": ("Rincian: {detail}", "Detail: {detail}"),
    # Audit log actions
    "au_sign-in": ("masuk", "signed in"),
    "au_sign-in-failed": ("gagal masuk", "sign-in failed"),
    "au_sign-out": ("keluar", "signed out"),
    "au_assign": ("menugaskan tiket", "assigned a ticket"),
    "au_answer": ("menjawab", "answered"),
    "au_close": ("menutup tanpa jawaban", "closed without answer"),
    "au_topic": ("mengubah topik tiket", "changed a ticket's topic"),
    "au_retrain": ("meminta latih ulang", "asked to retrain"),
    "au_faq-add-question": ("menambah contoh pertanyaan FAQ", "added an FAQ example question"),
    "au_faq-add-entry": ("menambah entri FAQ", "added an FAQ entry"),
    "au_faq-upload": ("mengunggah spreadsheet FAQ", "uploaded the FAQ spreadsheet"),
    "au_faq-download": ("mengunduh spreadsheet FAQ", "downloaded the FAQ spreadsheet"),
    "au_training-succeeded": ("pelatihan model berhasil", "model training succeeded"),
    "au_training-failed": ("pelatihan model gagal", "model training failed"),
    "au_announcement-created": ("membuat pengumuman", "created an announcement"),
    "au_poll-created": ("membuat jajak pendapat", "created a poll"),
    "au_survey-created": ("membuat survei", "created a survey"),
    "au_broadcast-cancelled": ("membatalkan pengiriman", "cancelled sending"),
    "au_poll-closed": ("menutup jajak pendapat", "closed a poll"),
    "au_campaign-created": ("membuat kampanye", "created a campaign"),
    "au_conversations-exported": ("mengekspor percakapan", "exported conversations"),
    "au_rumour-ticket": ("membuka tiket dari rumor", "opened a ticket for a rumour"),
    "au_refused": ("menolak jawaban dari orang tak terdaftar", "refused an unregistered reply"),
    "au_retention-purge": ("menghapus teks lama (masa simpan)", "removed old texts (retention)"),
    "au_official-added": ("menambah akun petugas", "added an official's account"),
    "au_password-changed": ("mengganti kata sandi", "changed a password"),
    "au_official-disabled": ("menonaktifkan akun petugas", "disabled an official's account"),
}


def has_text(key: str) -> bool:
    return key in TEXTS


def text(key: str, language: str, **values: object) -> str:
    indonesian, english = TEXTS[key]
    chosen = english if language == "en" else indonesian
    return chosen.format(**values) if values else chosen
