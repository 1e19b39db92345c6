CREATE TABLE students (
  student_code TEXT PRIMARY KEY, given_name TEXT, middle_name TEXT, family_name TEXT,
  year_level INTEGER, email TEXT, is_staff INTEGER, campus TEXT
);
INSERT INTO students VALUES ('S001', 'Aroha', NULL, 'Ngata', 7, ' Aroha@Example.edu ', 0, 'North');
INSERT INTO students VALUES ('S002', 'Liam', 'patrick', 'O''Connor', 8, NULL, 0, 'North');
INSERT INTO students VALUES ('S003', 'Amelia', NULL, 'Wright', 8, 'amelia@example.edu', 0, 'South');
